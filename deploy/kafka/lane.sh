#!/usr/bin/env bash
# The real Apache Kafka lane: start a single-node KRaft broker (Apache Kafka's own jars from
# Maven Central, run with plain `java -cp`, no Docker) on loopback, run a command against it,
# and stop the broker afterwards, whatever the command's outcome.
#
#   bash deploy/kafka/lane.sh .venv/bin/python -m pytest -m integration -q
#
# The command sees:
#   KONSORTIO_TEST_KAFKA_BOOTSTRAP        PLAINTEXT listener, host:port
#   KONSORTIO_TEST_KAFKA_IDEMPOTENCE      true (Apache Kafka implements InitProducerId)
#   KONSORTIO_TEST_KAFKA_CONTROL          "bash …/lane.sh --control DIR"; append stop|start|restart
#                                         to stop or restart the broker (same storage, same ports)
#   KONSORTIO_TEST_KAFKA_PID_FILE         file holding the broker's pid (for SIGSTOP/SIGCONT)
#   KONSORTIO_TEST_KAFKA_LOG              the broker's log file
#   KONSORTIO_TEST_KAFKA_LIB              the Kafka jars (java -cp "$LIB/*" … runs Kafka's CLI tools)
#   KONSORTIO_TEST_KAFKA_SECURITY_BOOTSTRAP_SASL_PLAINTEXT   SCRAM-SHA-512/256 and PLAIN
#   KONSORTIO_TEST_KAFKA_SECURITY_BOOTSTRAP_SASL_SSL         the same over TLS
#   KONSORTIO_TEST_KAFKA_SECURITY_BOOTSTRAP_SSL              TLS, no client certificate
#   KONSORTIO_TEST_KAFKA_SECURITY_BOOTSTRAP_MTLS             TLS, client certificate required
#   KONSORTIO_TEST_KAFKA_SECURITY_SASL_USERNAME / _PASSWORD  the SASL user (all mechanisms)
#   KONSORTIO_TEST_KAFKA_SECURITY_CAFILE                     CA that signed the broker's cert
#   KONSORTIO_TEST_KAFKA_SECURITY_CLIENT_CERTFILE / _KEYFILE client identity for MTLS
#
# Knobs (environment): KONSORTIO_KAFKA_CACHE (jar cache, default .cache/kafka),
# KONSORTIO_KAFKA_LANE_KEEP=1 (keep the work directory), KONSORTIO_KAFKA_LANE_AUTO_CREATE
# (auto.create.topics.enable, default false as in production), KONSORTIO_KAFKA_LANE_PARTITIONS
# (num.partitions, default 1), KONSORTIO_KAFKA_LANE_HEAP (default 768m), JAVA, MVN, PYTHON.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
JAVA=${JAVA:-java}
MVN=${MVN:-mvn}
PYTHON=${PYTHON:-python3}
CACHE=${KONSORTIO_KAFKA_CACHE:-$ROOT/.cache/kafka}
LIB=$CACHE/lib
SASL_USER=konsortio
SASL_PASSWORD=konsortio-lane-secret
# Least privilege: one SCRAM user per service (password "$SASL_PASSWORD-<service>"), with ACLs
# so that it writes only its own topic and the dead-letter topics of what it reads, reads only
# the topics its handlers need, and joins only its own consumer group. The admin ($SASL_USER)
# and the PLAINTEXT/SSL listeners' anonymous principal (the rest of the suite) are super users.
SERVICES="membership procurement catalogue outreach dashboard"
reads_of() {
    case $1 in
    membership) echo "konsortio.procurement" ;;
    procurement) echo "konsortio.membership konsortio.catalogue" ;;
    catalogue) echo "konsortio.membership konsortio.procurement" ;;
    outreach) echo "konsortio.membership konsortio.procurement konsortio.catalogue" ;;
    dashboard) echo "konsortio.membership konsortio.procurement konsortio.catalogue konsortio.outreach" ;;
    esac
}

say() { printf 'kafka-lane: %s\n' "$*" >&2; }
die() { say "$*"; exit 2; }

# --- broker control (also used by tests through KONSORTIO_TEST_KAFKA_CONTROL) ---------------

broker_start() {
    local work=$1
    # shellcheck disable=SC2086
    nohup "$JAVA" -Xms128m -Xmx"${KONSORTIO_KAFKA_LANE_HEAP:-768m}" -XX:+UseG1GC \
        -Djava.awt.headless=true -Dlog4j2.configurationFile="$work/log4j2.properties" \
        -cp "$LIB/*" kafka.Kafka "$work/server.properties" >>"$work/broker.log" 2>&1 &
    echo $! >"$work/broker.pid"
    broker_wait "$work"
}

broker_wait() {
    local work=$1 port deadline pid
    port=$(cat "$work/plaintext.port")
    pid=$(cat "$work/broker.pid")
    deadline=$((SECONDS + ${KONSORTIO_KAFKA_LANE_START_TIMEOUT:-90}))
    until "$PYTHON" "$HERE/probe.py" 127.0.0.1 "$port"; do
        if ! kill -0 "$pid" 2>/dev/null; then
            tail -n 40 "$work/broker.log" >&2 || true
            die "the broker exited during startup (log: $work/broker.log)"
        fi
        if ((SECONDS > deadline)); then
            tail -n 40 "$work/broker.log" >&2 || true
            die "the broker did not answer ApiVersions on 127.0.0.1:$port in time"
        fi
        sleep 0.25
    done
}

broker_stop() {
    local work=$1 pid i
    [[ -f $work/broker.pid ]] || return 0
    pid=$(cat "$work/broker.pid")
    if kill -0 "$pid" 2>/dev/null; then
        kill -CONT "$pid" 2>/dev/null || true # a test may have paused it
        kill -TERM "$pid" 2>/dev/null || true
        for ((i = 0; i < 120; i++)); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.25
        done
        if kill -0 "$pid" 2>/dev/null; then
            say "broker $pid ignored SIGTERM for 30 s; killing it"
            kill -KILL "$pid" 2>/dev/null || true
        fi
        wait "$pid" 2>/dev/null || true
    fi
    rm -f "$work/broker.pid"
}

if [[ ${1:-} == --control ]]; then
    work=${2:?work directory}
    case ${3:-} in
    stop) broker_stop "$work" ;;
    start) broker_start "$work" ;;
    restart) broker_stop "$work" && broker_start "$work" ;;
    *) die "usage: lane.sh --control DIR stop|start|restart" ;;
    esac
    exit 0
fi

(($# > 0)) || die "usage: lane.sh COMMAND [ARGS...]"

command -v "$JAVA" >/dev/null || die "java not found (Apache Kafka 4.x needs Java 17 or newer)"
command -v "$PYTHON" >/dev/null || die "$PYTHON not found"
command -v openssl >/dev/null || die "openssl not found (it makes the lane's TLS certificates)"
java_major=$("$JAVA" -XshowSettings:properties -version 2>&1 |
    sed -n 's/^ *java.specification.version = \([0-9]*\).*/\1/p')
((${java_major:-0} >= 17)) || die "java $java_major is too old: Apache Kafka 4.x brokers need 17+"

# --- jars: resolved once per POM, then reused without touching the network -----------------

resolve_jars() {
    local want have out
    want=$(sha256sum "$HERE/pom.xml" | cut -d' ' -f1)
    have=$(cat "$LIB/.pom.sha256" 2>/dev/null || true)
    [[ $want == "$have" ]] && return 0
    command -v "$MVN" >/dev/null || die "mvn not found: it resolves Apache Kafka's jars"
    rm -rf "$LIB"
    local args=(-B -q -f "$HERE/pom.xml" -Dmaven.repo.local="$CACHE/m2"
        dependency:copy-dependencies -DoutputDirectory="$LIB")
    local t0=$SECONDS
    # Offline first: a warm local repository needs no network at all.
    if ! "$MVN" -o "${args[@]}" >/dev/null 2>&1; then
        say "resolving Apache Kafka's jars from Maven Central (into $CACHE)"
        if ! out=$("$MVN" "${args[@]}" 2>&1); then
            printf '%s\n' "$out" >&2
            die "mvn could not resolve the jars (the exact error is above)"
        fi
    fi
    echo "$want" >"$LIB/.pom.sha256"
    say "jars resolved in $((SECONDS - t0)) s ($(du -sh "$LIB" | cut -f1))"
}
resolve_jars

# --- configuration -------------------------------------------------------------------------

WORK=$(mktemp -d "${TMPDIR:-/tmp}/konsortio-kafka.XXXXXX")
cleanup() {
    local rc=$?
    broker_stop "$WORK"
    if [[ ${KONSORTIO_KAFKA_LANE_KEEP:-0} == 1 ]]; then
        say "kept $WORK"
    else
        rm -rf "$WORK"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

read -r P_PLAIN P_CONTROLLER P_SASL P_SASL_SSL P_SSL P_MTLS < <("$PYTHON" - <<'EOF'
import socket
socks = [socket.socket() for _ in range(6)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in socks))
EOF
)
echo "$P_PLAIN" >"$WORK/plaintext.port"

# TLS: a throwaway CA, a broker certificate for 127.0.0.1/localhost, and a client identity.
TLS=$WORK/tls
mkdir -p "$TLS"
(
    cd "$TLS"
    openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 \
        -subj "/CN=konsortio-lane-ca" -addext "basicConstraints=critical,CA:TRUE" \
        -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
    for who in broker client; do
        openssl req -newkey rsa:2048 -nodes -keyout "$who.key" -out "$who.csr" \
            -subj "/CN=konsortio-lane-$who" 2>/dev/null
        if [[ $who == broker ]]; then
            printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n'
        else
            printf 'extendedKeyUsage=clientAuth\n'
        fi >"$who.ext"
        openssl x509 -req -in "$who.csr" -CA ca.pem -CAkey ca.key -CAcreateserial \
            -out "$who.pem" -days 2 -extfile "$who.ext" 2>/dev/null
    done
    # Kafka reads PEM keystores directly: PKCS#8 key followed by the certificate chain.
    openssl pkcs8 -topk8 -nocrypt -in broker.key -out broker.p8
    cat broker.p8 broker.pem ca.pem >broker-keystore.pem
)

JAAS_SCRAM='org.apache.kafka.common.security.scram.ScramLoginModule required;'
JAAS_PLAIN="org.apache.kafka.common.security.plain.PlainLoginModule required user_$SASL_USER=\"$SASL_PASSWORD\";"

cat >"$WORK/server.properties" <<EOF
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$P_CONTROLLER
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listeners=PLAINTEXT://127.0.0.1:$P_PLAIN,CONTROLLER://127.0.0.1:$P_CONTROLLER,SASL_PLAINTEXT://127.0.0.1:$P_SASL,SASL_SSL://127.0.0.1:$P_SASL_SSL,SSL://127.0.0.1:$P_SSL,MTLS://127.0.0.1:$P_MTLS
advertised.listeners=PLAINTEXT://127.0.0.1:$P_PLAIN,SASL_PLAINTEXT://127.0.0.1:$P_SASL,SASL_SSL://127.0.0.1:$P_SASL_SSL,SSL://127.0.0.1:$P_SSL,MTLS://127.0.0.1:$P_MTLS
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL,SSL:SSL,MTLS:SSL
log.dirs=$WORK/data
num.partitions=${KONSORTIO_KAFKA_LANE_PARTITIONS:-1}
auto.create.topics.enable=${KONSORTIO_KAFKA_LANE_AUTO_CREATE:-false}
offsets.topic.replication.factor=1
offsets.topic.num.partitions=10
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
sasl.enabled.mechanisms=SCRAM-SHA-512,SCRAM-SHA-256,PLAIN
listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config=$JAAS_SCRAM
listener.name.sasl_plaintext.scram-sha-256.sasl.jaas.config=$JAAS_SCRAM
listener.name.sasl_plaintext.plain.sasl.jaas.config=$JAAS_PLAIN
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=$JAAS_SCRAM
listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config=$JAAS_SCRAM
listener.name.sasl_ssl.plain.sasl.jaas.config=$JAAS_PLAIN
ssl.keystore.type=PEM
ssl.keystore.location=$TLS/broker-keystore.pem
ssl.truststore.type=PEM
ssl.truststore.location=$TLS/ca.pem
listener.name.mtls.ssl.client.auth=required
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
super.users=User:ANONYMOUS;User:$SASL_USER;User:CN=konsortio-lane-client
EOF

cat >"$WORK/log4j2.properties" <<'EOF'
status = warn
appender.out.type = Console
appender.out.name = out
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = info
rootLogger.appenderRef.out.ref = out
logger.state.name = state.change.logger
logger.state.level = warn
EOF

SERVICE_SCRAM=()
for s in $SERVICES; do
    SERVICE_SCRAM+=(--add-scram "SCRAM-SHA-512=[name=$s,password=$SASL_PASSWORD-$s]")
done
t0=$SECONDS
# The = form: a URL-safe id starts with '-' one time in 64, and kafka-storage's argparse
# would read it as an option.
cluster_id=$(openssl rand -base64 16 | tr '+/' '-_' | tr -d '=\n')
"$JAVA" -Dlog4j2.configurationFile="$WORK/log4j2.properties" -cp "$LIB/*" kafka.tools.StorageTool \
    format --cluster-id="$cluster_id" --config "$WORK/server.properties" --ignore-formatted \
    --add-scram "SCRAM-SHA-512=[name=$SASL_USER,password=$SASL_PASSWORD]" \
    --add-scram "SCRAM-SHA-256=[name=$SASL_USER,password=$SASL_PASSWORD]" \
    "${SERVICE_SCRAM[@]}" \
    >>"$WORK/broker.log" 2>&1 || {
    tail -n 20 "$WORK/broker.log" >&2
    die "formatting KRaft storage failed"
}
broker_start "$WORK"

# The ACLs, through the anonymous (super) PLAINTEXT listener, with Kafka's own AclCommand.
acl() {
    "$JAVA" -Dlog4j2.configurationFile="$WORK/log4j2.properties" -cp "$LIB/*" \
        org.apache.kafka.tools.AclCommand --bootstrap-server "127.0.0.1:$P_PLAIN" --add "$@" \
        >>"$WORK/acls.log" 2>&1 || {
        tail -n 20 "$WORK/acls.log" >&2
        die "creating ACLs failed"
    }
}
for s in $SERVICES; do
    writes="--topic konsortio.$s"
    reads=""
    for t in $(reads_of "$s"); do
        writes="$writes --topic $t.dlq"
        reads="$reads --topic $t"
    done
    # shellcheck disable=SC2086
    acl --allow-principal "User:$s" --operation Write --operation Describe $writes
    # shellcheck disable=SC2086
    acl --allow-principal "User:$s" --operation Read --operation Describe $reads --group "$s"
done
say "ACLs: one SCRAM user per service ($SERVICES), least privilege"
say "Apache Kafka $(basename "$LIB"/kafka_2.13-*.jar .jar | sed 's/kafka_2.13-//') up on 127.0.0.1:$P_PLAIN in $((SECONDS - t0)) s (work dir $WORK)"

export KONSORTIO_TEST_KAFKA_BOOTSTRAP=127.0.0.1:$P_PLAIN
export KONSORTIO_TEST_KAFKA_IDEMPOTENCE=true
export KONSORTIO_TEST_KAFKA_CONTROL="bash $HERE/lane.sh --control $WORK"
export KONSORTIO_TEST_KAFKA_PID_FILE=$WORK/broker.pid
export KONSORTIO_TEST_KAFKA_LOG=$WORK/broker.log
export KONSORTIO_TEST_KAFKA_LIB=$LIB
export KONSORTIO_TEST_KAFKA_SECURITY_BOOTSTRAP_SASL_PLAINTEXT=127.0.0.1:$P_SASL
export KONSORTIO_TEST_KAFKA_SECURITY_BOOTSTRAP_SASL_SSL=127.0.0.1:$P_SASL_SSL
export KONSORTIO_TEST_KAFKA_SECURITY_BOOTSTRAP_SSL=127.0.0.1:$P_SSL
export KONSORTIO_TEST_KAFKA_SECURITY_BOOTSTRAP_MTLS=127.0.0.1:$P_MTLS
export KONSORTIO_TEST_KAFKA_SECURITY_SASL_USERNAME=$SASL_USER
export KONSORTIO_TEST_KAFKA_SECURITY_SASL_PASSWORD=$SASL_PASSWORD
export KONSORTIO_TEST_KAFKA_SECURITY_SERVICE_USERS="$SERVICES"
export KONSORTIO_TEST_KAFKA_SECURITY_CAFILE=$TLS/ca.pem
export KONSORTIO_TEST_KAFKA_SECURITY_CLIENT_CERTFILE=$TLS/client.pem
export KONSORTIO_TEST_KAFKA_SECURITY_CLIENT_KEYFILE=$TLS/client.key

set +e
"$@"
rc=$?
set -e
exit "$rc"
