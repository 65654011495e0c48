"""The local twin: emulated AWS (moto), simulated Fargate, a fake control plane and a fake Gatling Cloud."""
