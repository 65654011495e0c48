// Reads each file named on standard input (one path a line) the way the control plane reads its
// config, ConfigFactory.parseFile(file).resolve() against this process's environment, and prints
// one JSON line per file: {"ok": true, "value": TREE} or {"ok": false, "line": N, "message": "..."}.
// TREE is canonical: object keys sorted, numbers as written by the JVM, strings escaped as JSON.
// Nothing is fetched: http, https and ftp URLs fail to open, as for a host that cannot be reached.

import com.typesafe.config.ConfigException;
import com.typesafe.config.ConfigFactory;
import com.typesafe.config.ConfigList;
import com.typesafe.config.ConfigObject;
import com.typesafe.config.ConfigValue;
import java.io.BufferedReader;
import java.io.File;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.net.URL;
import java.net.URLConnection;
import java.net.URLStreamHandler;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

public final class ReadAsControlPlane {
    private ReadAsControlPlane() {}

    public static void main(String[] args) throws IOException {
        URL.setURLStreamHandlerFactory(protocol -> {
            if (!protocol.equals("http") && !protocol.equals("https") && !protocol.equals("ftp")) {
                return null; // the JVM's own handler: file and jar are needed for the classpath
            }
            return new URLStreamHandler() {
                @Override
                protected URLConnection openConnection(URL url) throws IOException {
                    throw new IOException("the oracle opens no network connection");
                }
            };
        });
        PrintStream out = new PrintStream(System.out, false, StandardCharsets.UTF_8);
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        for (String path = in.readLine(); path != null; path = in.readLine()) {
            out.println(read(new File(path)));
        }
        out.flush();
    }

    private static String read(File file) {
        try {
            ConfigObject root = ConfigFactory.parseFile(file).resolve().root();
            StringBuilder json = new StringBuilder("{\"ok\": true, \"value\": ");
            write(root, json);
            return json.append('}').toString();
        } catch (ConfigException error) {
            int line = error.origin() == null ? -1 : error.origin().lineNumber();
            return failure(line, error.getClass().getSimpleName() + ": " + error.getMessage());
        } catch (RuntimeException | StackOverflowError error) {
            // 1.3.1 crashes on some bad paths instead of reporting them: still a refusal.
            return failure(-1, error.getClass().getName() + ": " + error.getMessage());
        }
    }

    private static String failure(int line, String message) {
        StringBuilder json = new StringBuilder("{\"ok\": false, \"line\": ").append(line).append(", \"message\": ");
        string(message == null ? "" : message, json);
        return json.append('}').toString();
    }

    private static void write(ConfigValue value, StringBuilder json) {
        switch (value.valueType()) {
            case OBJECT: {
                ConfigObject object = (ConfigObject) value;
                List<String> keys = new ArrayList<>(object.keySet());
                Collections.sort(keys);
                json.append('{');
                for (int i = 0; i < keys.size(); i++) {
                    if (i > 0) json.append(", ");
                    string(keys.get(i), json);
                    json.append(": ");
                    write(object.get(keys.get(i)), json);
                }
                json.append('}');
                break;
            }
            case LIST: {
                ConfigList list = (ConfigList) value;
                json.append('[');
                for (int i = 0; i < list.size(); i++) {
                    if (i > 0) json.append(", ");
                    write(list.get(i), json);
                }
                json.append(']');
                break;
            }
            case NUMBER: {
                Object number = value.unwrapped();
                if (number instanceof Double) {
                    double d = (Double) number;
                    if (Double.isNaN(d)) json.append("NaN");
                    else if (Double.isInfinite(d)) json.append(d > 0 ? "Infinity" : "-Infinity");
                    else json.append(Double.toString(d));
                } else {
                    json.append(number.toString());
                }
                break;
            }
            case BOOLEAN:
                json.append(value.unwrapped().toString());
                break;
            case NULL:
                json.append("null");
                break;
            default:
                string((String) value.unwrapped(), json);
        }
    }

    private static void string(String text, StringBuilder json) {
        json.append('"');
        for (int i = 0; i < text.length(); i++) {
            char c = text.charAt(i);
            if (c == '"' || c == '\\') json.append('\\').append(c);
            else if (c < 0x20 || (c >= 0xd800 && c <= 0xdfff)) json.append(String.format("\\u%04x", (int) c));
            else json.append(c);
        }
        json.append('"');
    }
}
