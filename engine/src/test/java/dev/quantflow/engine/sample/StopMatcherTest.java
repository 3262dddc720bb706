package dev.quantflow.engine.sample;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import org.junit.jupiter.api.Test;

class StopMatcherTest {
    @Test
    void withoutStopStringsEverythingPassesThrough() {
        StopMatcher m = new StopMatcher(List.of());
        assertThat(m.push("Hello")).isEqualTo("Hello");
        assertThat(m.push(" world")).isEqualTo(" world");
        assertThat(m.flush()).isEmpty();
    }

    @Test
    void aStopStringSplitAcrossDeltasIsHeldBackThenCut() {
        StopMatcher m = new StopMatcher(List.of("\n\nUser:"));
        assertThat(m.push("Sure.\n")).isEqualTo("Sure.");
        assertThat(m.push("\nUs")).isEmpty();
        assertThat(m.stopped()).isFalse();
        assertThat(m.push("er: hi")).isEmpty();
        assertThat(m.stopped()).isTrue();
        assertThat(m.push("more")).isEmpty();
    }

    @Test
    void aFalseStartIsReleased() {
        StopMatcher m = new StopMatcher(List.of("END"));
        assertThat(m.push("the EN")).isEqualTo("the ");
        assertThat(m.push("D")).isEmpty();
        assertThat(m.stopped()).isTrue();
        StopMatcher n = new StopMatcher(List.of("END"));
        assertThat(n.push("the EN") + n.push("JOY")).isEqualTo("the ENJOY");
        assertThat(n.flush()).isEmpty();
    }

    @Test
    void theEarliestOfSeveralStopsWins() {
        StopMatcher m = new StopMatcher(List.of("cat", "a c"));
        assertThat(m.push("I saw a cat")).isEqualTo("I saw ");
    }

    @Test
    void heldTextComesOutOnFlush() {
        StopMatcher m = new StopMatcher(List.of("###"));
        assertThat(m.push("done #")).isEqualTo("done ");
        assertThat(m.flush()).isEqualTo("#");
    }
}
