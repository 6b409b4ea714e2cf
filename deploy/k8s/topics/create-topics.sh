#!/usr/bin/env bash
# Create (or bring up to date) Konsortio's topics and their dead-letter topics. Safe to run
# again: existing topics keep their data, get more partitions when TOPIC_PARTITIONS grew, and
# get the configured retention. Partitions are never removed (Kafka cannot), and adding them
# moves keys to new partitions: add them before traffic, or accept per-key reordering once.
#
# Used by compose (the topic-init service), by the Kubernetes topic-init Job (a copy in
# deploy/k8s/base/topics/, kept identical by tests/deploy), and by the Apache Kafka lane.
set -euo pipefail

BOOTSTRAP=${KAFKA_BOOTSTRAP_SERVERS:-kafka:9092}
PARTITIONS=${TOPIC_PARTITIONS:-6}
DLQ_PARTITIONS=${DLQ_PARTITIONS:-1}
REPLICATION_FACTOR=${TOPIC_REPLICATION_FACTOR:-1}
MIN_ISR=${TOPIC_MIN_INSYNC_REPLICAS:-1}
# Events are the record other services rebuild their copies from: keep them (-1 = forever).
RETENTION_MS=${TOPIC_RETENTION_MS:--1}
# Dead letters wait for an operator; 30 days by default.
DLQ_RETENTION_MS=${DLQ_RETENTION_MS:-2592000000}
TOPICS=${KONSORTIO_TOPICS:-konsortio.membership konsortio.procurement konsortio.catalogue konsortio.outreach konsortio.usage}
# Commands, word-split on purpose so the lane can pass "java -cp … TopicCommand".
read -r -a KAFKA_TOPICS <<<"${KAFKA_TOPICS_CMD:-/opt/kafka/bin/kafka-topics.sh}"
read -r -a KAFKA_CONFIGS <<<"${KAFKA_CONFIGS_CMD:-/opt/kafka/bin/kafka-configs.sh}"
CLIENT=()
if [[ -n ${KAFKA_CLIENT_CONFIG:-} ]]; then
    CLIENT=(--command-config "$KAFKA_CLIENT_CONFIG") # SASL/TLS client properties
fi

topics() { "${KAFKA_TOPICS[@]}" --bootstrap-server "$BOOTSTRAP" "${CLIENT[@]}" "$@"; }

for attempt in $(seq 1 "${WAIT_ATTEMPTS:-60}"); do
    topics --list >/dev/null 2>&1 && break
    ((attempt == ${WAIT_ATTEMPTS:-60})) && { echo "Kafka at $BOOTSTRAP never answered" >&2; exit 1; }
    sleep 2
done

apply() {
    local topic=$1 partitions=$2 retention=$3 current
    topics --create --if-not-exists --topic "$topic" --partitions "$partitions" \
        --replication-factor "$REPLICATION_FACTOR" --config cleanup.policy=delete \
        --config retention.ms="$retention" --config min.insync.replicas="$MIN_ISR" >/dev/null
    current=$(topics --describe --topic "$topic" | sed -n 's/.*PartitionCount: *\([0-9]*\).*/\1/p' | head -n1)
    if ((current < partitions)); then
        topics --alter --topic "$topic" --partitions "$partitions"
        current=$partitions
    fi
    "${KAFKA_CONFIGS[@]}" --bootstrap-server "$BOOTSTRAP" "${CLIENT[@]}" --alter \
        --entity-type topics --entity-name "$topic" \
        --add-config "retention.ms=$retention,min.insync.replicas=$MIN_ISR" >/dev/null
    echo "topic $topic: $current partitions, retention.ms=$retention"
}

for topic in $TOPICS; do
    apply "$topic" "$PARTITIONS" "$RETENTION_MS"
    apply "$topic.dlq" "$DLQ_PARTITIONS" "$DLQ_RETENTION_MS"
done
