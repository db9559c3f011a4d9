#!/usr/bin/env python3
"""Test helper for the real-broker Kafka suite: creates topics and reads them back through the
confluent-kafka client (librdkafka 2.16 from PyPI), which speaks to Tansu where Debian's 2.0.2 cannot.

  kafka-probe.py create BOOTSTRAP TOPIC [PARTITIONS]
  kafka-probe.py consume BOOTSTRAP TOPIC COUNT TIMEOUT_SECONDS
      prints one JSON object per record (partition, offset, key, headers), from the start of every
      partition, until COUNT records were read or TIMEOUT_SECONDS passed; exit 0 either way.
"""
import json
import sys
import time

from confluent_kafka import Consumer, TopicPartition, OFFSET_BEGINNING
from confluent_kafka.admin import AdminClient, NewTopic


def create(bootstrap, topic, partitions=1):
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for _, future in admin.create_topics([NewTopic(topic, num_partitions=int(partitions), replication_factor=1)]).items():
        future.result(15)


def consume(bootstrap, topic, count, timeout):
    count, deadline = int(count), time.time() + float(timeout)
    admin = AdminClient({"bootstrap.servers": bootstrap})
    partitions = admin.list_topics(topic, timeout=10).topics[topic].partitions
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "outbox-probe", "enable.auto.commit": False})
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
    seen = 0
    while seen < count and time.time() < deadline:
        m = consumer.poll(0.5)
        if m is None or m.error():
            continue
        headers = {k: v.decode() for k, v in (m.headers() or [])}
        print(json.dumps({"partition": m.partition(), "offset": m.offset(),
                          "key": m.key().decode() if m.key() else None, "headers": headers}), flush=True)
        seen += 1
    consumer.close()


if __name__ == "__main__":
    command, args = sys.argv[1], sys.argv[2:]
    {"create": create, "consume": consume}[command](*args)
