#!/usr/bin/env python3
"""Decodes what a broker sink published as CloudEvents with the CloudEvents SDK for Python (PyPI
`cloudevents`, version 2), for the broker suites: an independent reader of `?cloudevents=binary|structured`.

Reads JSON lines from standard input, one per message as a probe read it back from the broker:
  {"binding": "kafka" | "http", "headers": {NAME: VALUE}, "body": BASE64, "key": TEXT | null,
   "payload": BASE64}
`kafka` messages are decoded with the SDK's Kafka binding (`ce_` headers), `http` ones with its HTTP
binding (`ce-` headers): the NATS binding's headers are the HTTP binding's, and an MQTT 5 message's user
properties and Content Type are given here as `ce-` headers and `content-type`. `payload` is the outbox
message's payload, which the event's data must equal (as bytes, or as the same JSON value).

Prints one JSON object per message: {"id", "type", "source", "time" (RFC 3339), "subject",
"datacontenttype", "dataschema", "extensions", "dataMatches"}; for a message the SDK refuses,
{"error": ...}; exits 1 if any was refused or did not match.
"""
import base64, json, sys

from cloudevents.core.bindings.http import HTTPMessage, from_http_event
from cloudevents.core.bindings.kafka import KafkaMessage, from_kafka_event


def data_matches(data, payload):
    if data is None:
        return payload == b""
    if isinstance(data, (bytes, bytearray)):
        return bytes(data) == payload
    if isinstance(data, str):
        try:
            return json.loads(payload) == data
        except ValueError:
            return data.encode() == payload
    return json.loads(payload) == data


def main():
    failed = False
    for line in sys.stdin:
        if not line.strip():
            continue
        m = json.loads(line)
        body = base64.b64decode(m["body"])
        try:
            if m["binding"] == "kafka":
                headers = {k: v.encode() for k, v in m["headers"].items()}
                event = from_kafka_event(KafkaMessage(headers=headers, key=m.get("key"), value=body))
            else:
                event = from_http_event(HTTPMessage(headers=dict(m["headers"]), body=body))
        except Exception as e:  # the SDK's refusal, whatever its type
            print(json.dumps({"error": "%s: %s" % (type(e).__name__, e)}), flush=True)
            failed = True
            continue
        known = {"specversion", "id", "source", "type", "time", "subject", "datacontenttype", "dataschema", "data", "data_base64"}
        extensions = {k: str(v) for k, v in event.get_attributes().items() if k not in known}
        time = event.get_time()
        matches = data_matches(event.get_data(), base64.b64decode(m["payload"]))
        failed = failed or not matches
        print(json.dumps({"id": event.get_id(), "type": event.get_type(), "source": event.get_source(),
                          "specversion": event.get_specversion(),
                          "time": time.isoformat() if time else None, "subject": event.get_subject(),
                          "datacontenttype": event.get_datacontenttype(), "dataschema": event.get_dataschema(),
                          "extensions": extensions, "dataMatches": matches}, sort_keys=True), flush=True)
    sys.exit(1 if failed else 0)


main()
