// A real Java Dubbo application for the registry interop test: it exports a generic provider
// (so Python can parse a URL written by Java) and resolves a generic reference with check=true
// to the interface the Python side registered, printing what its registry directory holds.
//
//   java DubboProbe <zk host:port> <interface to consume> <interface to export> <export port>
//                   <interface nobody provides>
import java.util.List;
import org.apache.dubbo.config.ApplicationConfig;
import org.apache.dubbo.config.ProtocolConfig;
import org.apache.dubbo.config.ReferenceConfig;
import org.apache.dubbo.config.RegistryConfig;
import org.apache.dubbo.config.ServiceConfig;
import org.apache.dubbo.config.bootstrap.DubboBootstrap;
import org.apache.dubbo.rpc.Invoker;
import org.apache.dubbo.rpc.cluster.ClusterInvoker;
import org.apache.dubbo.rpc.cluster.Directory;
import org.apache.dubbo.rpc.service.GenericService;

public class DubboProbe {
    public static void main(String[] args) throws Exception {
        String zookeeper = args[0];
        String consumed = args[1];
        String exported = args[2];
        int port = Integer.parseInt(args[3]);
        String missing = args[4];

        ApplicationConfig application = new ApplicationConfig("java-probe");
        application.setQosEnable(false);
        ServiceConfig<GenericService> service = new ServiceConfig<>();
        service.setInterface(exported);
        service.setGeneric("true");
        service.setRef((method, types, values) -> "pong");
        DubboBootstrap bootstrap = DubboBootstrap.getInstance()
                .application(application)
                .registry(new RegistryConfig("zookeeper://" + zookeeper))
                .protocol(loopback(port))
                .service(service)
                .start();
        System.out.println("EXPORTED " + exported);

        int status = 0;
        try {
            ReferenceConfig<GenericService> reference = reference(consumed);
            reference.get();
            System.out.println("RESOLVED " + consumed);
            Invoker<?> invoker = reference.getInvoker();
            if (invoker instanceof ClusterInvoker) {
                Directory<?> directory = ((ClusterInvoker<?>) invoker).getDirectory();
                List<? extends Invoker<?>> invokers = directory.getAllInvokers();
                for (Invoker<?> each : invokers) {
                    System.out.println("PROVIDER " + each.getUrl().getAddress());
                }
            }
        } catch (IllegalStateException e) {
            System.out.println("FAILED " + firstLine(e.getMessage()));
            status = 1;
        }
        try {
            reference(missing).get();
            System.out.println("RESOLVED " + missing);
        } catch (IllegalStateException e) {
            System.out.println("NO_PROVIDER " + firstLine(e.getMessage()));
        }
        System.out.flush();
        bootstrap.stop();
        System.exit(status);
    }

    private static ReferenceConfig<GenericService> reference(String name) {
        ReferenceConfig<GenericService> reference = new ReferenceConfig<>();
        reference.setInterface(name);
        reference.setGeneric("true");
        reference.setCheck(true);
        reference.setTimeout(3000);
        // resolve the addresses without dialing them: the RPC wire protocol is not under test
        reference.setLazy(true);
        return reference;
    }

    private static ProtocolConfig loopback(int port) {
        ProtocolConfig protocol = new ProtocolConfig("dubbo", port);
        protocol.setHost("127.0.0.1");
        return protocol;
    }

    private static String firstLine(String message) {
        return message == null ? "" : message.split("\n", 2)[0];
    }
}
