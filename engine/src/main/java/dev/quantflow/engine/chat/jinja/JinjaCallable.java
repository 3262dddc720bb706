package dev.quantflow.engine.chat.jinja;

import java.util.List;
import java.util.Map;

/** A function value: a global (raise_exception, range, namespace) or a bound method ('x'.strip). */
@FunctionalInterface
interface JinjaCallable {
    Object call(List<Object> args, Map<String, Object> kwargs);
}
