package dev.quantflow.server.http;

import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.Comparator;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.pekko.NotUsed;
import org.apache.pekko.actor.ActorSystem;
import org.apache.pekko.actor.Cancellable;
import org.apache.pekko.http.javadsl.model.HttpRequest;
import org.apache.pekko.stream.KillSwitches;
import org.apache.pekko.stream.UniqueKillSwitch;
import org.apache.pekko.stream.javadsl.Flow;
import org.apache.pekko.stream.javadsl.Keep;
import org.apache.pekko.stream.scaladsl.Tcp;
import org.apache.pekko.util.ByteString;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Keeps idle and slow clients from holding the listeners. Pekko HTTP has neither a header-read
 * timeout nor a keep-alive timeout separate from its idle timeout (which must outlast a silent
 * non-streamed generation), and at its connection limit it stops accepting: so every accepted TCP
 * connection passes through here (see {@link GuardTelemetry}). A connection with no request in
 * flight is closed when the headers of its next request take longer than header-read-timeout, or
 * when it has been silent for keep-alive-timeout; at max-connections a new connection closes the
 * longest-idle one, or is closed itself when every connection has a request in flight. Requests
 * are counted in and out by {@link HttpEdge}, matched to their connection by the client address.
 */
public final class ConnectionGuard {
    private static final Logger log = LoggerFactory.getLogger(ConnectionGuard.class);
    private static final Map<ActorSystem, ConnectionGuard> BY_SYSTEM = new ConcurrentHashMap<>();
    private static final ByteString H2_PREFACE = ByteString.fromString("PRI * HTTP/2.0");
    private static final ByteString SWITCHING = ByteString.fromString("HTTP/1.1 101");
    /** Pekko's own limit stays above ours, so that we see (and can close) the connections beyond ours. */
    public static final int PEKKO_MARGIN = 64;

    private final EdgeSettings settings;
    private final Map<InetSocketAddress, Conn> open = new ConcurrentHashMap<>();
    private final Cancellable sweeper;
    private final AtomicInteger refused = new AtomicInteger();
    private volatile long lastRefusalLog = System.nanoTime() - 20_000_000_000L;

    private ConnectionGuard(EdgeSettings settings, ActorSystem system) {
        this.settings = settings;
        long periodMs = Math.clamp(Math.min(settings.headerReadTimeout().toMillis(), settings.keepAliveTimeout().toMillis()) / 4, 50, 1000);
        this.sweeper = system.scheduler().scheduleWithFixedDelay(Duration.ofMillis(periodMs), Duration.ofMillis(periodMs), this::sweep, system.dispatcher());
    }

    /** The guard of this actor system's listeners; installed before the first bind, gone with the system. */
    public static ConnectionGuard install(ActorSystem system, EdgeSettings settings) {
        ConnectionGuard g = new ConnectionGuard(settings, system);
        BY_SYSTEM.put(system, g);
        system.getWhenTerminated().whenComplete((t, e) -> {
            g.sweeper.cancel();
            BY_SYSTEM.remove(system, g);
        });
        return g;
    }

    static Optional<ConnectionGuard> of(ActorSystem system) {
        return Optional.ofNullable(BY_SYSTEM.get(system));
    }

    /** Open connections on a local port (for tests and logs). */
    public int openConnections(int localPort) {
        return (int) open.values().stream().filter(c -> c.localPort == localPort).count();
    }

    private static final class Conn {
        final InetSocketAddress remote;
        final int localPort;
        final AtomicInteger inFlight = new AtomicInteger();
        volatile long lastActivity = System.nanoTime();
        volatile long headersSince;   // 0: not reading headers
        volatile boolean http2;
        volatile boolean sawBytes;
        volatile UniqueKillSwitch kill;

        Conn(InetSocketAddress remote, int localPort) {
            this.remote = remote;
            this.localPort = localPort;
        }

        /**
         * The server answering means the bytes received so far were a request it read: no header
         * read is pending (a slow-header client never gets an answer). A 101 switches the
         * connection to HTTP/2 (h2c upgrade, as java.net.http and curl --http2 do it).
         */
        void sent(ByteString b) {
            lastActivity = System.nanoTime();
            headersSince = 0;
            if (!http2 && b.size() >= SWITCHING.size() && b.take(SWITCHING.size()).equals(SWITCHING)) http2 = true;
        }

        void received(ByteString b) {
            long now = System.nanoTime();
            lastActivity = now;
            if (!sawBytes) {
                sawBytes = true;
                http2 = b.size() >= H2_PREFACE.size() && b.take(H2_PREFACE.size()).equals(H2_PREFACE);
            }
            // HTTP/2 multiplexes and has its own framing: only the keep-alive rule applies to it
            if (!http2 && inFlight.get() == 0 && headersSince == 0) headersSince = now;
        }

        void close(String why) {
            UniqueKillSwitch k = kill;
            if (k != null) k.abort(new TimeoutException(why));
        }
    }

    /** The accepted connection with its bytes watched; Pekko HTTP runs it as usual. */
    Tcp.IncomingConnection guard(Tcp.IncomingConnection in) {
        Conn c = new Conn(in.remoteAddress(), in.localAddress().getPort());
        Flow<ByteString, ByteString, NotUsed> tcp = in.flow().asJava();
        Flow<ByteString, ByteString, NotUsed> guarded = Flow.<ByteString>create()
                .map(b -> {
                    c.sent(b);
                    return b;
                })
                .via(tcp)
                .map(b -> {
                    c.received(b);
                    return b;
                })
                .viaMat(KillSwitches.single(), Keep.right())
                .watchTermination((kill, done) -> {
                    c.kill = kill;
                    admit(c);
                    done.whenComplete((d, e) -> open.remove(c.remote, c));
                    return NotUsed.getInstance();
                });
        return new Tcp.IncomingConnection(in.localAddress(), in.remoteAddress(), guarded.asScala());
    }

    private void admit(Conn c) {
        long onPort = open.values().stream().filter(o -> o.localPort == c.localPort).count();
        if (onPort >= settings.maxConnections()) {
            Optional<Conn> idlest = open.values().stream().filter(o -> o.localPort == c.localPort && o.inFlight.get() == 0)
                    .min(Comparator.comparingLong(o -> o.lastActivity));
            if (idlest.isEmpty()) {
                int n = refused.incrementAndGet();
                long now = System.nanoTime(), last = lastRefusalLog;
                // at most one line per 10 s: a flood of connections must not become a flood of log lines
                if (now - last > 10_000_000_000L) {
                    lastRefusalLog = now;
                    refused.addAndGet(-n);
                    log.warn("connection limit ({}) reached on port {} with a request in flight on every connection: closed {} new connection(s), the last from {}",
                            settings.maxConnections(), c.localPort, n, c.remote);
                }
                c.close("connection limit reached");
                return;
            }
            open.remove(idlest.get().remote, idlest.get());
            idlest.get().close("connection limit reached: closing the longest-idle connection");
        }
        open.put(c.remote, c);
    }

    private void sweep() {
        long now = System.nanoTime();
        long headerNs = settings.headerReadTimeout().toNanos(), idleNs = settings.keepAliveTimeout().toNanos();
        for (Conn c : open.values()) {
            if (c.inFlight.get() > 0) continue;
            long since = c.headersSince;
            if (since != 0 && now - since > headerNs) {
                log.debug("closing the connection from {}: request headers not complete within {}", c.remote, settings.headerReadTimeout());
                c.close("header-read timeout");
            } else if (since == 0 && now - c.lastActivity > idleNs) {
                c.close("keep-alive timeout");
            }
        }
    }

    /** A request reached the server on this connection (its headers are complete). */
    void requestStarted(HttpRequest request) {
        connection(request).ifPresent(c -> {
            c.inFlight.incrementAndGet();
            c.headersSince = 0;
        });
    }

    /** Its response was sent (or failed). */
    void requestEnded(HttpRequest request) {
        connection(request).ifPresent(c -> {
            c.lastActivity = System.nanoTime();
            c.headersSince = 0;
            c.inFlight.decrementAndGet();
        });
    }

    private Optional<Conn> connection(HttpRequest request) {
        return ClientConnections.remoteOf(request).map(open::get);
    }
}
