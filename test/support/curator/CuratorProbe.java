/*
 * A real Apache Curator (curator-x-discovery 5.4) client that zkgate's tests drive line by line,
 * so interop with Java apps is checked against Curator itself rather than a reimplementation.
 *
 * Usage: java -cp <jars>:<classes> CuratorProbe <connectString> [basePath] [sessionTimeoutMs] [port]
 *
 * With a port, the probe connects to 127.0.0.1:<port> once its Curator client has a session and
 * speaks the protocol over that socket (the test harness listens there); without one it speaks
 * it over stdin/stdout, for trying it by hand. Each request is one line, "<command> <json>"; each
 * gets exactly one JSON line back, in order: {"ok":true,...} or {"ok":false,"error":"..."}.
 *
 *   register   {"service","id","address","port","sslPort"?,"serviceType"?,"uriSpec"?,
 *               "payload": {...} | null, "payloadClass": "spring" | "map" | "none"}
 *   unregister {"service","id"}
 *   query      {"service","as"?: "object" | "spring" | "map"}   ServiceDiscovery.queryForInstances
 *   close      closes discovery and client (ephemerals vanish), replies, exits 0
 *
 * No ServiceProvider/ServiceCache command: they need curator-recipes, which Debian's
 * libcurator-discovery-java does not depend on (the jar's manifest omits it too).
 *
 * "as" picks the payload class the reading ServiceDiscovery is built with, as an app would:
 * "spring" is what a Spring Cloud Zookeeper app sees (ServiceDiscovery<ZookeeperInstance>, whose
 * JsonInstanceSerializer casts every payload to that class), "object" a lenient Curator app.
 */

import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.BufferedReader;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.io.PrintStream;
import java.net.InetAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.Collection;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.CuratorFrameworkFactory;
import org.apache.curator.retry.ExponentialBackoffRetry;
import org.apache.curator.x.discovery.ServiceDiscovery;
import org.apache.curator.x.discovery.ServiceDiscoveryBuilder;
import org.apache.curator.x.discovery.ServiceInstance;
import org.apache.curator.x.discovery.ServiceInstanceBuilder;
import org.apache.curator.x.discovery.ServiceType;
import org.apache.curator.x.discovery.UriSpec;
import org.apache.curator.x.discovery.details.JsonInstanceSerializer;
import org.springframework.cloud.zookeeper.discovery.ZookeeperInstance;

public final class CuratorProbe {
    /** Reads requests and renders replies; no default typing, so payloads print as plain JSON. */
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final int CONNECT_TIMEOUT_MS = 15_000;

    private final CuratorFramework client;
    private final String basePath;
    /** One ServiceDiscovery per payload class, built on first use, all on the one client and session. */
    private final Map<String, ServiceDiscovery<?>> discoveries = new HashMap<>();
    /** What this probe registered, by "service/id", with the discovery that owns it. */
    private final Map<String, Registered<?>> registered = new LinkedHashMap<>();

    private record Registered<T>(ServiceDiscovery<T> discovery, ServiceInstance<T> instance) {
        void unregister() throws Exception {
            discovery.unregisterService(instance);
        }
    }

    private CuratorProbe(CuratorFramework client, String basePath) {
        this.client = client;
        this.basePath = basePath;
    }

    public static void main(String[] args) throws Exception {
        // Curator, ZooKeeper or Jackson must never write into the reply stream.
        PrintStream stdout = System.out;
        System.setOut(System.err);
        if (args.length < 1) {
            System.err.println("usage: CuratorProbe <connectString> [basePath] [sessionTimeoutMs] [port]");
            System.exit(2);
        }
        String connectString = args[0];
        String basePath = args.length > 1 ? args[1] : "/services";
        int sessionTimeoutMs = args.length > 2 ? Integer.parseInt(args[2]) : 60_000;
        Integer port = args.length > 3 ? Integer.valueOf(args[3]) : null;

        CuratorFramework client = CuratorFrameworkFactory.builder()
                .connectString(connectString)
                .sessionTimeoutMs(sessionTimeoutMs)
                .connectionTimeoutMs(CONNECT_TIMEOUT_MS)
                .retryPolicy(new ExponentialBackoffRetry(100, 5))
                .build();
        client.start();
        if (!client.blockUntilConnected(CONNECT_TIMEOUT_MS, TimeUnit.MILLISECONDS)) {
            System.err.println("no ZooKeeper session from " + connectString + " within " + CONNECT_TIMEOUT_MS + " ms");
            System.exit(1);
        }

        InputStream in = System.in;
        OutputStream out = stdout;
        if (port != null) {
            // Connecting only now makes the accepted connection the harness's readiness signal.
            Socket socket = new Socket(InetAddress.getLoopbackAddress(), port);
            in = socket.getInputStream();
            out = socket.getOutputStream();
        }
        new CuratorProbe(client, basePath).serve(
                new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8)),
                new PrintStream(out, true, StandardCharsets.UTF_8));
    }

    private void serve(BufferedReader in, PrintStream out) {
        String line;
        for (;;) {
            try {
                line = in.readLine();
            } catch (Exception e) {
                line = null;
            }
            // End of input means the harness is gone: leave like `close` so no session lingers.
            if (line == null) {
                shutdown();
                System.exit(0);
            }
            if (line.isBlank()) continue;
            int space = line.indexOf(' ');
            String command = space < 0 ? line : line.substring(0, space);
            String body = space < 0 ? "" : line.substring(space + 1).trim();
            ObjectNode reply;
            try {
                JsonNode request = body.isEmpty() ? JSON.createObjectNode() : JSON.readTree(body);
                reply = handle(command, request);
            } catch (Throwable e) {
                reply = error(e);
            }
            out.println(reply.toString());
            if (command.equals("close") && reply.path("ok").asBoolean()) {
                out.flush();
                System.exit(0);
            }
        }
    }

    private ObjectNode handle(String command, JsonNode request) throws Exception {
        switch (command) {
            case "register":
                return register(request);
            case "unregister":
                return unregister(request);
            case "query":
                return query(request);
            case "close":
                shutdown();
                return ok();
            default:
                throw new IllegalArgumentException("unknown command: " + command);
        }
    }

    private ObjectNode register(JsonNode request) throws Exception {
        String service = text(request, "service");
        String id = text(request, "id");
        String payloadClass = request.path("payloadClass").asText("none");
        JsonNode payload = request.path("payload");
        boolean hasPayload = !payload.isMissingNode() && !payload.isNull();
        switch (payloadClass) {
            case "spring": {
                ZookeeperInstance instance = hasPayload
                        ? JSON.treeToValue(payload, ZookeeperInstance.class)
                        : new ZookeeperInstance(id, service, new HashMap<>());
                return register(discovery("spring", ZookeeperInstance.class), request, instance);
            }
            case "map": {
                // A HashMap, as an app building its payload by hand would have; its class name is what lands in "@class".
                Map<String, Object> map = hasPayload ? JSON.convertValue(payload, new TypeReference<HashMap<String, Object>>() {}) : new HashMap<>();
                @SuppressWarnings({"unchecked", "rawtypes"})
                ServiceDiscovery<Map> discovery = discovery("map", Map.class);
                return register(discovery, request, map);
            }
            case "none":
                if (hasPayload) throw new IllegalArgumentException("payloadClass none takes no payload");
                return register(discovery("object", Object.class), request, null);
            default:
                throw new IllegalArgumentException("unknown payloadClass: " + payloadClass);
        }
    }

    private <T> ObjectNode register(ServiceDiscovery<T> discovery, JsonNode request, T payload) throws Exception {
        String service = text(request, "service");
        String id = text(request, "id");
        String key = service + "/" + id;
        if (registered.containsKey(key)) throw new IllegalStateException("already registered by this probe: " + key);
        ServiceInstanceBuilder<T> builder = ServiceInstance.<T>builder()
                .name(service)
                .id(id)
                .address(text(request, "address"))
                .port(request.path("port").asInt())
                .serviceType(ServiceType.valueOf(request.path("serviceType").asText("DYNAMIC")))
                .payload(payload);
        if (request.hasNonNull("sslPort")) builder.sslPort(request.get("sslPort").asInt());
        if (request.hasNonNull("uriSpec")) builder.uriSpec(new UriSpec(request.get("uriSpec").asText()));
        ServiceInstance<T> instance = builder.build();
        discovery.registerService(instance);
        registered.put(key, new Registered<>(discovery, instance));
        return ok();
    }

    private ObjectNode unregister(JsonNode request) throws Exception {
        String key = text(request, "service") + "/" + text(request, "id");
        Registered<?> entry = registered.remove(key);
        if (entry == null) throw new IllegalStateException("not registered by this probe: " + key);
        entry.unregister();
        return ok();
    }

    private ObjectNode query(JsonNode request) throws Exception {
        ServiceDiscovery<?> discovery = readingDiscovery(request);
        return instances(discovery.queryForInstances(text(request, "service")));
    }

    private ServiceDiscovery<?> readingDiscovery(JsonNode request) throws Exception {
        String as = request.path("as").asText("object");
        switch (as) {
            case "object":
                return discovery("object", Object.class);
            case "spring":
                return discovery("spring", ZookeeperInstance.class);
            case "map":
                return discovery("map", Map.class);
            default:
                throw new IllegalArgumentException("unknown as: " + as);
        }
    }

    private ObjectNode instances(Collection<? extends ServiceInstance<?>> instances) {
        ArrayNode list = JSON.createArrayNode();
        for (ServiceInstance<?> instance : instances) {
            ObjectNode node = list.addObject();
            node.put("id", instance.getId());
            node.put("name", instance.getName());
            node.put("address", instance.getAddress());
            node.put("port", instance.getPort());
            node.put("sslPort", instance.getSslPort());
            Object payload = instance.getPayload();
            node.set("payload", JSON.valueToTree(payload));
            // Tells a Spring-class payload from a map with the same fields.
            node.put("payloadType", payload == null ? null : payload.getClass().getName());
            node.put("registrationTimeUTC", instance.getRegistrationTimeUTC());
            node.put("serviceType", instance.getServiceType() == null ? null : instance.getServiceType().name());
            node.set("uriSpec", JSON.valueToTree(instance.getUriSpec()));
            node.put("uri", instance.getUriSpec() == null ? null : instance.buildUriSpec());
            node.put("enabled", instance.isEnabled());
        }
        ObjectNode reply = ok();
        reply.set("instances", list);
        return reply;
    }

    /**
     * Built as Spring Cloud Zookeeper and most Curator apps build theirs: the default
     * JsonInstanceSerializer (compatible mode, which writes no "enabled" field).
     */
    @SuppressWarnings("unchecked")
    private <T> ServiceDiscovery<T> discovery(String key, Class<T> payloadClass) throws Exception {
        ServiceDiscovery<?> existing = discoveries.get(key);
        if (existing != null) return (ServiceDiscovery<T>) existing;
        ServiceDiscovery<T> discovery = ServiceDiscoveryBuilder.builder(payloadClass)
                .client(client)
                .basePath(basePath)
                .serializer(new JsonInstanceSerializer<>(payloadClass))
                .build();
        discovery.start();
        discoveries.put(key, discovery);
        return discovery;
    }

    private void shutdown() {
        for (ServiceDiscovery<?> discovery : discoveries.values()) {
            try {
                // Deletes this probe's instances explicitly, then the session end takes any left.
                discovery.close();
            } catch (Exception e) {
                e.printStackTrace();
            }
        }
        discoveries.clear();
        registered.clear();
        client.close();
    }

    private static String text(JsonNode request, String field) {
        JsonNode value = request.get(field);
        if (value == null || !value.isTextual()) throw new IllegalArgumentException("missing string field: " + field);
        return value.asText();
    }

    private static ObjectNode ok() {
        ObjectNode reply = JSON.createObjectNode();
        reply.put("ok", true);
        return reply;
    }

    private static ObjectNode error(Throwable e) {
        StringBuilder message = new StringBuilder(e.toString());
        for (Throwable cause = e.getCause(); cause != null && cause != cause.getCause(); cause = cause.getCause()) {
            message.append(" <- ").append(cause);
        }
        ObjectNode reply = JSON.createObjectNode();
        reply.put("ok", false);
        reply.put("error", message.toString());
        return reply;
    }
}
