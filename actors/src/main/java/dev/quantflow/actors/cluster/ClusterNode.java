package dev.quantflow.actors.cluster;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import com.typesafe.config.ConfigValueFactory;
import java.util.List;

/**
 * The actor-system settings that make a JVM a node of a Quantflow cluster: the cluster provider,
 * Artery TCP on host:port, the node's role, and either seed nodes (bare metal) or none (Cluster
 * Bootstrap finds the others). Every node's system has the same name, since a cluster is one name.
 */
public final class ClusterNode {
    /** The actor system's name on every node (the server's). */
    public static final String SYSTEM_NAME = "quantflow-server";
    public static final String FRONTEND = "frontend";
    public static final String STAGE = "stage";

    private ClusterNode() {}

    /** seeds: "host:port" each; empty when Cluster Bootstrap forms the cluster. A node the cluster downs exits (its supervisor restarts it). */
    public static Config config(String role, String host, int port, List<String> seeds) {
        if (!role.equals(FRONTEND) && !role.equals(STAGE)) throw new IllegalArgumentException("unknown cluster role " + role + " (frontend or stage)");
        List<String> seedNodes = seeds.stream().map(ClusterNode::seedAddress).toList();
        return ConfigFactory.empty()
                .withValue("pekko.actor.provider", ConfigValueFactory.fromAnyRef("cluster"))
                .withValue("pekko.remote.artery.transport", ConfigValueFactory.fromAnyRef("tcp"))
                .withValue("pekko.remote.artery.canonical.hostname", ConfigValueFactory.fromAnyRef(host))
                .withValue("pekko.remote.artery.canonical.port", ConfigValueFactory.fromAnyRef(port))
                .withValue("pekko.cluster.roles", ConfigValueFactory.fromIterable(List.of(role)))
                .withValue("pekko.cluster.seed-nodes", ConfigValueFactory.fromIterable(seedNodes))
                .withValue("pekko.coordinated-shutdown.exit-jvm", ConfigValueFactory.fromAnyRef("on"));
    }

    static String seedAddress(String hostPort) {
        int colon = hostPort.lastIndexOf(':');
        if (colon <= 0 || colon == hostPort.length() - 1) throw new IllegalArgumentException("--cluster-seed " + hostPort + ": expected HOST:PORT");
        try {
            int port = Integer.parseInt(hostPort.substring(colon + 1));
            if (port <= 0 || port > 65535) throw new NumberFormatException();
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("--cluster-seed " + hostPort + ": the port is not a number in 1-65535");
        }
        return "pekko://" + SYSTEM_NAME + "@" + hostPort;
    }
}
