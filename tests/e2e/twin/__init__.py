"""The local twin's simulated Fargate, fake control plane and fake Gatling Cloud on real loopback sockets."""
