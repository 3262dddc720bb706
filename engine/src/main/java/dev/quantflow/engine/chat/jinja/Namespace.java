package dev.quantflow.engine.chat.jinja;

import java.util.LinkedHashMap;
import java.util.Map;

/** namespace(...): the one mutable object of Jinja, so a loop can carry state out (set ns.x = ...). */
final class Namespace {
    final Map<String, Object> attributes = new LinkedHashMap<>();
}
