package dev.quantflow.engine.llama;

/** The decoder layers [first, last) one stage owns, and the device it runs on. */
public record LayerRange(int stage, int first, int last, String device) {
    public int layers() {
        return last - first;
    }
}
