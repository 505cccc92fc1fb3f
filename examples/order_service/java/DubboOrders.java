// A Java Dubbo 3.3 consumer and provider of the order service, with stubs generated from
// examples/order_service/proto/order.proto by protoc and Dubbo's dubbo-compiler plugin.
//
//   java DubboOrders consume <zk host:port> <group|-> <version|-> <calls> <pause ms>
//       calls GetOrder(id) through ZooKeeper, one line per call ("OK <id> <served_by>" or
//       "FAIL <message>"), then "DONE ok=<n> failed=<n> seconds=<s>"
//   java DubboOrders provide <zk host:port> <port> <group|-> <version|-> <name>
//       exports OrderService over tri on <port>, prints "READY", stops when stdin closes
import com.example.order.v1.DubboOrderServiceTriple;
import com.example.order.v1.GetOrderRequest;
import com.example.order.v1.Order;
import com.example.order.v1.OrderService;
import com.example.order.v1.PlaceOrderRequest;
import org.apache.dubbo.config.ApplicationConfig;
import org.apache.dubbo.config.ProtocolConfig;
import org.apache.dubbo.config.ReferenceConfig;
import org.apache.dubbo.config.RegistryConfig;
import org.apache.dubbo.config.ServiceConfig;
import org.apache.dubbo.config.bootstrap.DubboBootstrap;

public class DubboOrders {
    public static void main(String[] args) throws Exception {
        if (args[0].equals("consume")) {
            consume(args[1], optional(args[2]), optional(args[3]), Integer.parseInt(args[4]),
                    Long.parseLong(args[5]));
        } else {
            provide(args[1], Integer.parseInt(args[2]), optional(args[3]), optional(args[4]), args[5]);
        }
    }

    private static void consume(String zookeeper, String group, String version, int calls, long pause)
            throws Exception {
        ApplicationConfig application = new ApplicationConfig("java-order-consumer");
        application.setQosEnable(false);
        ReferenceConfig<OrderService> reference = new ReferenceConfig<>();
        reference.setInterface(OrderService.class);
        reference.setProtocol("tri");
        reference.setTimeout(3000);
        reference.setCheck(true);
        if (group != null) reference.setGroup(group);
        if (version != null) reference.setVersion(version);
        DubboBootstrap bootstrap = DubboBootstrap.getInstance()
                .application(application)
                .registry(new RegistryConfig("zookeeper://" + zookeeper))
                .reference(reference)
                .start();
        OrderService orders = reference.get();
        System.out.println("RESOLVED");
        System.out.flush();
        int ok = 0;
        int failed = 0;
        long started = System.nanoTime();
        for (int i = 1; i <= calls; i++) {
            try {
                Order order = orders.getOrder(GetOrderRequest.newBuilder().setId(i).build());
                ok++;
                System.out.println("OK " + order.getId() + " " + order.getServedBy());
            } catch (RuntimeException e) {
                failed++;
                System.out.println("FAIL " + firstLine(e.getMessage()));
            }
            if (pause > 0) Thread.sleep(pause);
        }
        double seconds = (System.nanoTime() - started) / 1e9;
        try {
            Order placed = orders.placeOrder(PlaceOrderRequest.newBuilder().addItems("tea").build());
            System.out.println("PLACED " + placed.getId() + " " + String.join(",", placed.getItemsList()));
        } catch (RuntimeException e) {
            System.out.println("PLACE_FAILED " + firstLine(e.getMessage()));
        }
        System.out.println("DONE ok=" + ok + " failed=" + failed + " seconds=" + seconds);
        System.out.flush();
        bootstrap.stop();
        System.exit(0);
    }

    private static void provide(String zookeeper, int port, String group, String version, String name)
            throws Exception {
        ApplicationConfig application = new ApplicationConfig("java-order-provider");
        application.setQosEnable(false);
        ServiceConfig<OrderService> service = new ServiceConfig<>();
        service.setInterface(OrderService.class);
        service.setRef(new DubboOrderServiceTriple.OrderServiceImplBase() {
            @Override
            public Order getOrder(GetOrderRequest request) {
                return Order.newBuilder().setId(request.getId()).setServedBy(name).build();
            }

            @Override
            public Order placeOrder(PlaceOrderRequest request) {
                return Order.newBuilder().setId(1).addAllItems(request.getItemsList()).setServedBy(name).build();
            }
        });
        if (group != null) service.setGroup(group);
        if (version != null) service.setVersion(version);
        DubboBootstrap bootstrap = DubboBootstrap.getInstance()
                .application(application)
                .registry(new RegistryConfig("zookeeper://" + zookeeper))
                .protocol(new ProtocolConfig("tri", port))
                .service(service)
                .start();
        System.out.println("READY " + service.getExportedUrls());
        System.out.flush();
        while (System.in.read() != -1) {
            // run until the test closes our stdin
        }
        bootstrap.stop();
        System.exit(0);
    }

    private static String optional(String value) {
        return value.equals("-") ? null : value;
    }

    private static String firstLine(String message) {
        return message == null ? "" : message.split("\n", 2)[0];
    }
}
