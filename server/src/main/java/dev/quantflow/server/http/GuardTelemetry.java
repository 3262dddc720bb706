package dev.quantflow.server.http;

import org.apache.pekko.NotUsed;
import org.apache.pekko.actor.ActorSystem;
import org.apache.pekko.http.impl.engine.http2.TelemetrySpi;
import org.apache.pekko.http.scaladsl.model.HttpRequest;
import org.apache.pekko.http.scaladsl.model.HttpResponse;
import org.apache.pekko.stream.scaladsl.BidiFlow;
import org.apache.pekko.stream.scaladsl.Flow;
import org.apache.pekko.stream.scaladsl.Tcp;

/**
 * Pekko HTTP's hook on its server binding (pekko.http.http2-telemetry-class; every bind goes
 * through it since HTTP/2 is enabled), the one place that sees each accepted TCP connection: hands
 * them to the actor system's {@link ConnectionGuard} (limits, timeouts) and {@link ClientConnections}
 * (a request learns that its client left). Pekko creates it by reflection.
 */
public final class GuardTelemetry implements TelemetrySpi {
    private final ActorSystem system;

    public GuardTelemetry(ActorSystem system) {
        this.system = system;
    }

    @Override
    public Flow<Tcp.IncomingConnection, Tcp.IncomingConnection, NotUsed> serverBinding() {
        return org.apache.pekko.stream.javadsl.Flow.<Tcp.IncomingConnection>create()
                .map(in -> ClientConnections.get(system).watched(ConnectionGuard.of(system).map(g -> g.guard(in)).orElse(in)))
                .asScala();
    }

    @Override
    public BidiFlow<HttpResponse, HttpResponse, HttpRequest, HttpRequest, NotUsed> serverConnection() {
        return BidiFlow.identity();
    }

    @Override
    public BidiFlow<HttpRequest, HttpRequest, HttpResponse, HttpResponse, NotUsed> client() {
        return BidiFlow.identity();
    }
}
