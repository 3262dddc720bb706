package dev.quantflow.server.cli;

import com.typesafe.config.Config;
import dev.quantflow.actors.cluster.ClusterNode;
import java.util.List;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.management.cluster.bootstrap.ClusterBootstrap;
import org.apache.pekko.management.javadsl.PekkoManagement;
import picocli.CommandLine.Option;

/**
 * How a node joins a Quantflow cluster (serve --role frontend, stage): Artery TCP on
 * --cluster-host:--cluster-port, and either the seed nodes given (bare metal: the frontend's
 * address) or Cluster Bootstrap with the discovery method configured (the multi-node k8s overlay:
 * the Kubernetes API), which needs Pekko Management's HTTP endpoint on every node.
 */
final class ClusterOptions {
    @Option(names = "--cluster-seed", paramLabel = "HOST:PORT", split = ",", defaultValue = "${env:QUANTFLOW_CLUSTER_SEEDS}",
            description = "A seed node of the cluster (the frontend's --cluster-host:--cluster-port), repeatable or comma-separated [QUANTFLOW_CLUSTER_SEEDS]")
    List<String> seeds;

    @Option(names = "--cluster-host", paramLabel = "HOST", defaultValue = "${env:QUANTFLOW_CLUSTER_HOST:-127.0.0.1}",
            description = "The address other nodes reach this one at (Artery TCP) [QUANTFLOW_CLUSTER_HOST] (default: ${DEFAULT-VALUE})")
    String host;

    @Option(names = "--cluster-port", paramLabel = "PORT", defaultValue = "${env:QUANTFLOW_CLUSTER_PORT:-25520}",
            description = "This node's cluster port; 0 = any free port [QUANTFLOW_CLUSTER_PORT] (default: ${DEFAULT-VALUE})")
    int port;

    @Option(names = "--cluster-bootstrap", defaultValue = "${env:QUANTFLOW_CLUSTER_BOOTSTRAP:-false}",
            description = "Form the cluster with Pekko Management Cluster Bootstrap (pekko.discovery.method, e.g. kubernetes-api) instead of seed nodes "
                    + "[QUANTFLOW_CLUSTER_BOOTSTRAP]")
    boolean bootstrap;

    /** serve without --role frontend forms no cluster: a seed or bootstrap given there is a mistake, refused rather than ignored. */
    void refuseOutsideACluster(String role) {
        boolean seeded = seeds != null && seeds.stream().anyMatch(s -> !s.isBlank());
        if (seeded || bootstrap)
            throw new QuantflowCommand.UserError((seeded ? "--cluster-seed (or QUANTFLOW_CLUSTER_SEEDS)" : "--cluster-bootstrap") + " needs --role frontend: serve --role "
                    + role + " runs every stage in this JVM and joins no cluster (stage nodes run `quantflow stage`)");
    }

    /** The node's actor-system settings for role. */
    Config config(String role) {
        List<String> given = seeds == null ? List.of() : seeds.stream().map(String::strip).filter(s -> !s.isEmpty()).toList();
        if (given.isEmpty() && !bootstrap)
            throw new QuantflowCommand.UserError("a cluster node needs --cluster-seed HOST:PORT (the frontend's cluster address) or --cluster-bootstrap");
        if (port < 0 || port > 65535) throw new QuantflowCommand.UserError("--cluster-port " + port + ": expected 0-65535");
        try {
            return ClusterNode.config(role, host, port, bootstrap ? List.of() : given);
        } catch (IllegalArgumentException e) {
            throw new QuantflowCommand.UserError(e.getMessage());
        }
    }

    /** With --cluster-bootstrap: the management endpoint (contact point for the other nodes' bootstrap, /alive and /ready) and the bootstrap. */
    void startBootstrap(ActorSystem<?> system) {
        if (!bootstrap) return;
        PekkoManagement.get(system.classicSystem()).start();
        ClusterBootstrap.get(system.classicSystem()).start();
    }
}
