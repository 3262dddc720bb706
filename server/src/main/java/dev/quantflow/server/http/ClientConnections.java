package dev.quantflow.server.http;

import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import org.apache.pekko.NotUsed;
import org.apache.pekko.actor.AbstractExtensionId;
import org.apache.pekko.actor.ActorSystem;
import org.apache.pekko.actor.ExtendedActorSystem;
import org.apache.pekko.actor.Extension;
import org.apache.pekko.http.javadsl.model.AttributeKeys;
import org.apache.pekko.http.javadsl.model.HttpRequest;
import org.apache.pekko.stream.javadsl.Flow;
import org.apache.pekko.stream.scaladsl.Tcp;
import org.apache.pekko.util.ByteString;

/**
 * Which client TCP connections are open, so that a request can learn that its client went away
 * while the server was still working on it. Pekko HTTP never tells a handler that: a non-streamed
 * response's future simply completes into a closed connection. The only per-connection hook of a
 * server that also speaks HTTP/2 is Pekko HTTP's telemetry SPI ({@link GuardTelemetry}, configured as
 * {@code pekko.http.http2-telemetry-class}), which sees every accepted TCP connection; requests
 * carry their connection's remote address ({@code remote-address-attribute = on}).
 */
public final class ClientConnections implements Extension {
    private final Map<InetSocketAddress, Connection> open = new ConcurrentHashMap<>();

    /** Pekko's settings the watch needs besides the telemetry hook (merged into the server's actor system config). */
    public static final String CONFIG = "pekko.http.server.remote-address-attribute = on\n";

    public static ClientConnections get(ActorSystem system) {
        return Id.INSTANCE.get(system);
    }

    /** A request's view of its connection: {@link #onGone} runs once the client closed it (at once if it already has). */
    public interface Watch extends AutoCloseable {
        void onGone(Runnable action);

        /** Stops watching (the response is complete). */
        @Override
        void close();
    }

    private static final Watch UNWATCHED = new Watch() {
        public void onGone(Runnable action) {}
        public void close() {}
    };

    /** The client end of the request's TCP connection, as the telemetry hook saw it accepted (remote-address-attribute). */
    static Optional<InetSocketAddress> remoteOf(HttpRequest request) {
        return request.getAttribute(AttributeKeys.remoteAddress)
                .filter(a -> !a.isUnknown() && a.getAddress().isPresent())
                .map(a -> new InetSocketAddress(a.getAddress().get(), a.getPort()));
    }

    public Watch watch(HttpRequest request) {
        InetSocketAddress remote = remoteOf(request).orElse(null);
        if (remote == null) return UNWATCHED;
        Connection c = open.get(remote);
        if (c != null) return c.new Registration();
        synchronized (recentlyClosed) {
            // closed just before the request got here; an address never seen means the hook is not installed
            // on this listener (e.g. HTTP/2 off there): unwatched, never cancelled
            return recentlyClosed.containsKey(remote) ? new Gone() : UNWATCHED;
        }
    }

    private void opened(InetSocketAddress remote) {
        open.put(remote, new Connection());
        synchronized (recentlyClosed) {
            recentlyClosed.remove(remote);
        }
    }

    private void closed(InetSocketAddress remote) {
        Connection c = open.remove(remote);
        synchronized (recentlyClosed) {
            recentlyClosed.put(remote, Boolean.TRUE);
        }
        if (c != null) c.close();
    }

    /** The last connections that closed, so that a request read just before its connection closed still learns it. */
    private final Map<InetSocketAddress, Boolean> recentlyClosed = new LinkedHashMap<>() {
        @Override
        protected boolean removeEldestEntry(Map.Entry<InetSocketAddress, Boolean> eldest) {
            return size() > 4096;
        }
    };

    private static final class Gone implements Watch {
        public void onGone(Runnable action) {
            action.run();
        }

        public void close() {}
    }

    private static final class Connection {
        private final List<Registration> watching = new ArrayList<>();
        private boolean closed;

        void close() {
            List<Registration> gone;
            synchronized (this) {
                closed = true;
                gone = List.copyOf(watching);
                watching.clear();
            }
            gone.forEach(Registration::gone);
        }

        final class Registration implements Watch {
            private final List<Runnable> actions = new ArrayList<>();
            private boolean done;

            Registration() {
                synchronized (Connection.this) {
                    if (!closed) watching.add(this);
                    else done = true;
                }
            }

            public void onGone(Runnable action) {
                boolean now;
                synchronized (Connection.this) {
                    now = done && closed;
                    if (!done) actions.add(action);
                }
                if (now) action.run();
            }

            public void close() {
                synchronized (Connection.this) {
                    done = true;
                    watching.remove(this);
                    actions.clear();
                }
            }

            void gone() {
                List<Runnable> run;
                synchronized (Connection.this) {
                    if (done) return;
                    done = true;
                    run = List.copyOf(actions);
                    actions.clear();
                }
                run.forEach(Runnable::run);
            }
        }
    }

    private static final class Id extends AbstractExtensionId<ClientConnections> {
        static final Id INSTANCE = new Id();

        @Override
        public ClientConnections createExtension(ExtendedActorSystem system) {
            return new ClientConnections();
        }
    }

    /**
     * The connection as Pekko HTTP will run it, reporting its opening and its end here; called
     * for every accepted connection by the server's telemetry hook ({@link GuardTelemetry}).
     */
    Tcp.IncomingConnection watched(Tcp.IncomingConnection c) {
        InetSocketAddress remote = c.remoteAddress();
        org.apache.pekko.stream.scaladsl.Flow<ByteString, ByteString, NotUsed> flow = Flow.fromGraph(c.flow())
                .watchTermination((nu, done) -> {
                    opened(remote);
                    done.whenComplete((d, err) -> closed(remote));
                    return NotUsed.getInstance();
                }).asScala();
        return new Tcp.IncomingConnection(c.localAddress(), remote, flow);
    }
}
