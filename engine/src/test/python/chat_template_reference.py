#!/usr/bin/python3
"""The expected texts of ChatTemplateTest's tool conversations, rendered by jinja2 as transformers does.

transformers' render_jinja_template: an ImmutableSandboxedEnvironment with trim_blocks, lstrip_blocks
and loopcontrols, its own tojson (json.dumps, ensure_ascii False) and raise_exception. The messages
are the OpenAI ones after vLLM's preprocessing: a call's arguments parsed from JSON text into a dict,
an assistant's null content as "". Prints one JSON string per case (a valid Java literal here).

Usage: chat_template_reference.py   (from engine/, needs jinja2)
"""
import json

from jinja2.exceptions import TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment


def raise_exception(message):
    raise TemplateError(message)


def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=["jinja2.ext.loopcontrols"])
env.filters["tojson"] = tojson
env.globals["raise_exception"] = raise_exception

WEATHER = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
TOOLS = [{"type": "function", "function": {"name": "get_weather", "description": "Weather in a city", "parameters": WEATHER}}]


def call(call_id, city):
    return {"id": call_id, "type": "function", "function": {"name": "get_weather", "arguments": json.loads(json.dumps({"city": city}))}}


TOOL_TURN = [{"role": "system", "content": "You are helpful."}, {"role": "user", "content": "Weather in Paris?"},
             {"role": "assistant", "content": "", "tool_calls": [call("call_1", "Paris")]},
             {"role": "tool", "content": "{\"temperature\": 21}", "tool_call_id": "call_1", "name": "get_weather"}]
TWO_CALLS = TOOL_TURN[:2] + [{"role": "assistant", "content": "Checking both.", "tool_calls": [call("call_1", "Paris"), call("call_2", "Oslo")]},
                             {"role": "tool", "content": "21", "tool_call_id": "call_1"}, {"role": "tool", "content": "7", "tool_call_id": "call_2"},
                             {"role": "assistant", "content": "Paris 21, Oslo 7."}, {"role": "user", "content": "Thanks"}]

for name, bos, messages in [("qwen25-tools.jinja", "", TOOL_TURN), ("qwen25-tools.jinja", "", TWO_CALLS),
                            ("llama31-tools.jinja", "<|begin_of_text|>", TOOL_TURN)]:
    with open("src/test/resources/chat/" + name) as f:
        template = env.from_string(f.read())
    print(name, json.dumps(template.render(messages=messages, tools=TOOLS, add_generation_prompt=True, bos_token=bos, eos_token="")))
