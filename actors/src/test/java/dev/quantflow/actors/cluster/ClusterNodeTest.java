package dev.quantflow.actors.cluster;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import java.util.List;
import org.junit.jupiter.api.Test;

/** A cluster node's settings and the layer-range keys the frontend and the stage nodes must agree on. */
class ClusterNodeTest {
    @Test
    void aNodeGetsTheClusterProviderItsRoleAndSeedAddresses() {
        Config c = ClusterNode.config(ClusterNode.STAGE, "10.0.0.2", 25520, List.of("10.0.0.1:25520")).withFallback(ConfigFactory.load());
        assertThat(c.getString("pekko.actor.provider")).isEqualTo("cluster");
        assertThat(c.getStringList("pekko.cluster.roles")).containsExactly("stage");
        assertThat(c.getStringList("pekko.cluster.seed-nodes")).containsExactly("pekko://quantflow-server@10.0.0.1:25520");
        assertThat(c.getString("pekko.remote.artery.canonical.hostname")).isEqualTo("10.0.0.2");
        // the documented failure handling (docs/OPERATIONS.md, Multi-node)
        assertThat(c.getString("pekko.cluster.split-brain-resolver.active-strategy")).isEqualTo("keep-oldest");
        assertThat(c.getString("pekko.cluster.split-brain-resolver.keep-oldest.role")).isEqualTo(ClusterNode.FRONTEND);
        assertThat(c.getBoolean("pekko.cluster.split-brain-resolver.keep-oldest.down-if-alone")).isFalse();
        assertThat(c.getDuration("pekko.cluster.failure-detector.acceptable-heartbeat-pause").toSeconds()).isEqualTo(3);
    }

    @Test
    void withoutAClusterRoleTheDefaultsStayLocal() {
        assertThat(ConfigFactory.load().getString("pekko.actor.provider")).isEqualTo("local");
    }

    @Test
    void badSeedsAndRolesAreRefusedWithTheirReason() {
        assertThatThrownBy(() -> ClusterNode.config(ClusterNode.STAGE, "h", 1, List.of("nohost"))).hasMessageContaining("expected HOST:PORT");
        assertThatThrownBy(() -> ClusterNode.config(ClusterNode.STAGE, "h", 1, List.of("h:99999"))).hasMessageContaining("1-65535");
        assertThatThrownBy(() -> ClusterNode.config("worker", "h", 1, List.of())).hasMessageContaining("frontend or stage");
    }

    @Test
    void layerRangesAreInclusiveOnTheCommandLineAndNameTheirKey() {
        assertThat(StageKeys.parseLayers("3-4")).containsExactly(3, 5);
        assertThat(StageKeys.parseLayers(" 0-0 ")).containsExactly(0, 1);
        assertThat(StageKeys.forLayers(3, 5).id()).isEqualTo("quantflow-stage-layers-3-4");
        for (String bad : List.of("4-3", "a-b", "3", "-1-2", "1-2-3"))
            assertThatThrownBy(() -> StageKeys.parseLayers(bad)).as(bad).hasMessageContaining("expected FIRST-LAST");
    }
}
