#!/usr/bin/env python3
"""Test helper for the real-broker Kafka suite: creates topics and reads them back through the
confluent-kafka client (librdkafka 2.16 from PyPI), which speaks to Tansu where Debian's 2.0.2 cannot.

  kafka-probe.py create BOOTSTRAP TOPIC [PARTITIONS]
  kafka-probe.py consume BOOTSTRAP TOPIC TIMEOUT_SECONDS
      prints one JSON object per record (partition, offset, key, headers, value in base64), from the start of every
      partition up to its high-water mark at the time of the call and then until the topic is quiet
      for a second; exit 1 if TIMEOUT_SECONDS passed first.
"""
import base64
import json
import sys
import time

from confluent_kafka import Consumer, TopicPartition, OFFSET_BEGINNING
from confluent_kafka.admin import AdminClient, NewTopic


def create(bootstrap, topic, partitions=1):
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for _, future in admin.create_topics([NewTopic(topic, num_partitions=int(partitions), replication_factor=1)]).items():
        future.result(15)


def consume(bootstrap, topic, timeout):
    deadline = time.time() + float(timeout)
    admin = AdminClient({"bootstrap.servers": bootstrap})
    partitions = admin.list_topics(topic, timeout=10).topics[topic].partitions
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "outbox-probe", "enable.auto.commit": False})
    ends = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in partitions}
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
    next_offset = {p: 0 for p in partitions}
    quiet_since = None
    while True:
        if time.time() > deadline:
            sys.exit("timed out before the end of %s: read %s of %s" % (topic, next_offset, ends))
        m = consumer.poll(0.2)
        if m is None or m.error():
            # Some brokers report the high-water mark one short: once it is reached, read on until
            # the topic stays quiet for a second.
            if all(next_offset[p] >= ends[p] for p in partitions):
                quiet_since = quiet_since or time.time()
                if time.time() - quiet_since > 1:
                    break
            continue
        quiet_since = None
        headers = {k: v.decode() for k, v in (m.headers() or [])}
        print(json.dumps({"partition": m.partition(), "offset": m.offset(),
                          "key": m.key().decode() if m.key() else None, "headers": headers,
                          "value": base64.b64encode(m.value() or b"").decode()}), flush=True)
        next_offset[m.partition()] = m.offset() + 1
    consumer.close()


if __name__ == "__main__":
    command, args = sys.argv[1], sys.argv[2:]
    {"create": create, "consume": consume}[command](*args)
