package dev.quantflow.server;

import static com.tngtech.archunit.lang.syntax.ArchRuleDefinition.noClasses;
import static com.tngtech.archunit.library.dependencies.SlicesRuleDefinition.slices;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.tngtech.archunit.core.domain.JavaClasses;
import com.tngtech.archunit.core.importer.ClassFileImporter;
import com.tngtech.archunit.core.importer.ImportOption;
import dev.quantflow.engine.llama.DecoderForward;
import dev.quantflow.engine.llama.DecoderOps;
import org.junit.jupiter.api.Test;

/**
 * The structure the design relies on, checked over the production classes of every module: no
 * package cycles, one decoder layer loop, an engine free of Pekko, and no JMH in the server.
 */
class PackageStructureTest {
    // production classes only: test classes come as target/test-classes in a module build and as *-tests.jar in the reactor's verify
    private static final JavaClasses CLASSES = new ClassFileImporter().withImportOption(ImportOption.Predefined.DO_NOT_INCLUDE_TESTS)
            .withImportOption(location -> !location.contains("-tests.jar")).importPackages("dev.quantflow");

    @Test
    void packagesFormNoCycle() {
        slices().matching("dev.quantflow.(**)").should().beFreeOfCycles().check(CLASSES);
    }

    @Test
    void onlyDecoderForwardRunsTheLayers() {
        // every layer's attention goes through this call: a second layer loop would make it too
        noClasses().that().doNotHaveFullyQualifiedName(DecoderForward.class.getName())
                .should().callMethod(DecoderOps.class, "attention", int.class, Object.class, Object.class)
                .because("the decoder's forward pass is written once, against DecoderOps").check(CLASSES);
    }

    @Test
    void theEngineKnowsNothingOfPekkoOrTheOtherModules() {
        noClasses().that().resideInAPackage("dev.quantflow.engine..")
                .should().dependOnClassesThat().resideInAnyPackage("org.apache.pekko..", "dev.quantflow.actors..", "dev.quantflow.gpu..",
                        "dev.quantflow.server..")
                .check(CLASSES);
    }

    @Test
    void jmhIsNotOnTheServersClassPath() {
        assertThatThrownBy(() -> Class.forName("org.openjdk.jmh.annotations.Benchmark")).isInstanceOf(ClassNotFoundException.class);
    }
}
