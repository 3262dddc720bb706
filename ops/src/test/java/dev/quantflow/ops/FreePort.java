package dev.quantflow.ops;

import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;

/** An ephemeral loopback port that was free a moment ago. */
final class FreePort {
    private FreePort() {}

    static int pick() throws IOException {
        try (ServerSocket socket = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            return socket.getLocalPort();
        }
    }
}
