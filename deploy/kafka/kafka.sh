#!/usr/bin/env bash
# Apache Kafka 4.x on loopback (KRaft, each node a combined broker+controller) for
# the monitor's integration tests and demos -- a single node, or a three-node
# cluster -- no Docker, no tarball: the jars come from Maven Central via
# deploy/kafka/pom.xml and are cached outside the repository.
#
#   kafka.sh fetch            resolve the jars into the cache (once)
#   kafka.sh start            fetch if needed, format storage once, start, wait until it
#                             answers; prints HOST:PORT (the bootstrap servers) on stdout
#   kafka.sh stop [--wipe]    stop (SIGTERM, then SIGKILL after a deadline); --wipe deletes the data dir
#   kafka.sh status           "running"/"not running", exit 0/1
#   kafka.sh topics ARGS...   org.apache.kafka.tools.TopicCommand against this broker
#                             (e.g. topics --create --topic t --partitions 8)
#   kafka.sh cluster-id       print a fresh cluster id (as start uses to format storage)
#   kafka.sh cluster start    three nodes: clients on KAFKA_PORT, +2, +4, controllers on +1, +3, +5,
#                             data in KAFKA_DATA_DIR/node-1..3; replication factor 3 and
#                             min.insync.replicas 2 by default; prints the three HOST:PORTs
#   kafka.sh cluster stop [--wipe] | status
#   kafka.sh cluster kill N   SIGKILL node N (1..3); cluster start-node N brings it back
#
# See README.md beside this file for the environment settings.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
POM="$SCRIPT_DIR/pom.xml"

pom_kafka_version() {
    sed -n 's:.*<kafka\.version>\([^<]*\)</kafka\.version>.*:\1:p' "$POM" | head -n 1
}

KAFKA_VERSION="${KAFKA_VERSION:-$(pom_kafka_version)}"
KAFKA_CACHE="${KAFKA_CACHE:-${HOME:-/root}/.cache/monitor-kafka}"
KAFKA_DATA_DIR="${KAFKA_DATA_DIR:-/tmp/monitor-kafka}"
KAFKA_HOST="${KAFKA_HOST:-127.0.0.1}"
KAFKA_PORT="${KAFKA_PORT:-9092}"
KAFKA_CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-9093}"
KAFKA_HEAP_OPTS="${KAFKA_HEAP_OPTS:--Xms256m -Xmx512m}"
KAFKA_JVM_OPTS="${KAFKA_JVM_OPTS:-}"
KAFKA_START_TIMEOUT="${KAFKA_START_TIMEOUT:-90}"
KAFKA_STOP_TIMEOUT="${KAFKA_STOP_TIMEOUT:-60}"
KAFKA_AUTO_CREATE_TOPICS="${KAFKA_AUTO_CREATE_TOPICS:-false}"
KAFKA_NUM_PARTITIONS="${KAFKA_NUM_PARTITIONS:-1}"
KAFKA_LOG_LEVEL="${KAFKA_LOG_LEVEL:-INFO}"
KAFKA_GROUP_MIN_SESSION_TIMEOUT_MS="${KAFKA_GROUP_MIN_SESSION_TIMEOUT_MS:-6000}"
KAFKA_WIPE="${KAFKA_WIPE:-0}"
# one node of a cluster (set by `cluster start`; a single node is node 1 of itself)
KAFKA_NODE_ID="${KAFKA_NODE_ID:-1}"
KAFKA_VOTERS="${KAFKA_VOTERS:-}"          # e.g. 1@127.0.0.1:9093,2@127.0.0.1:9095,3@127.0.0.1:9097
KAFKA_REPLICATION="${KAFKA_REPLICATION:-1}"
KAFKA_MIN_ISR="${KAFKA_MIN_ISR:-1}"
KAFKA_CLUSTER_ID="${KAFKA_CLUSTER_ID:-}"  # formatted with this id when set (a cluster's nodes share one)
KAFKA_WAIT_BROKERS="${KAFKA_WAIT_BROKERS:-1}"  # start waits until the node sees this many live brokers
JAVA="${JAVA:-java}"
MVN="${MVN:-mvn}"
KAFKA_MVN_OPTS="${KAFKA_MVN_OPTS:-}"
PYTHON="${PYTHON:-python3}"

# absolute paths: the broker and the tools must not depend on the caller's cwd
KAFKA_CACHE="$(realpath -m "$KAFKA_CACHE")"
KAFKA_DATA_DIR="$(realpath -m "$KAFKA_DATA_DIR")"

VERSION_DIR="$KAFKA_CACHE/$KAFKA_VERSION"
LIBS="$VERSION_DIR/libs"
MARKER="$VERSION_DIR/.complete"
PID_FILE="$KAFKA_DATA_DIR/kafka.pid"
PROPS="$KAFKA_DATA_DIR/server.properties"
LOG4J_CONF="$KAFKA_DATA_DIR/log4j2.xml"
LOG_DIRS="$KAFKA_DATA_DIR/kraft-logs"
SERVER_LOG="$KAFKA_DATA_DIR/logs/server.log"
STDOUT_LOG="$KAFKA_DATA_DIR/kafka.out"
FORMAT_STAMP="$KAFKA_DATA_DIR/formatted.env"

log() { printf 'kafka.sh: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

usage() {
    sed -n '2,20p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
}

# ---------------------------------------------------------------- fetch ----

pom_digest() {
    { cat "$POM"; echo "kafka.version=$KAFKA_VERSION"; } | sha256sum | cut -d' ' -f1
}

jar_count() {
    find "$LIBS" -maxdepth 1 -name '*.jar' | wc -l
}

fetch_complete() {
    [[ -f "$MARKER" && -d "$LIBS" ]] && [[ "$(cat "$MARKER")" == "$(pom_digest)" ]]
}

cmd_fetch() {
    [[ -n "$KAFKA_VERSION" ]] || die "cannot read <kafka.version> from $POM"
    if fetch_complete; then
        log "jars for Kafka $KAFKA_VERSION already in $LIBS ($(jar_count) jars)"
        return 0
    fi
    command -v "$MVN" >/dev/null || die "maven ('$MVN') not found"
    mkdir -p "$VERSION_DIR"
    # Run Maven on a copy of the pom inside the cache so nothing (target/, ...)
    # is ever written next to the repository's pom.
    cp "$POM" "$VERSION_DIR/pom.xml"
    local tmp="$VERSION_DIR/libs.tmp.$$"
    rm -rf "$tmp"
    log "resolving Kafka $KAFKA_VERSION jars with Maven into $LIBS ..."
    local t0=$SECONDS
    # shellcheck disable=SC2086  # extra maven options are a word list
    if ! "$MVN" -B -q $KAFKA_MVN_OPTS -f "$VERSION_DIR/pom.xml" \
            -Dkafka.version="$KAFKA_VERSION" \
            dependency:copy-dependencies \
            -DincludeScope=runtime \
            -DoutputDirectory="$tmp" >"$VERSION_DIR/mvn.log" 2>&1; then
        tail -n 40 "$VERSION_DIR/mvn.log" >&2
        rm -rf "$tmp"
        die "maven could not resolve the Kafka jars (full output: $VERSION_DIR/mvn.log)"
    fi
    ls "$tmp"/kafka_2.13-*.jar >/dev/null 2>&1 || { rm -rf "$tmp"; die "kafka_2.13 jar missing after resolve"; }
    rm -rf "$LIBS"
    mv "$tmp" "$LIBS"
    pom_digest >"$MARKER"
    log "fetched $(jar_count) jars in $((SECONDS - t0)) s"
}

# ---------------------------------------------------------------- helpers --

check_java() {
    command -v "$JAVA" >/dev/null || die "java ('$JAVA') not found; Kafka 4.x needs Java 17+"
    local v
    v="$("$JAVA" -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -n 1)"
    [[ -n "$v" && "$v" -ge 17 ]] || die "Kafka 4.x brokers need Java 17+, '$JAVA' is version ${v:-unknown}"
}

# Prints the broker PID when the PID file points at a live kafka.Kafka process.
running_pid() {
    [[ -f "$PID_FILE" ]] || return 1
    local pid
    pid="$(tr -dc '0-9' <"$PID_FILE")"
    [[ -n "$pid" ]] || return 1
    kill -0 "$pid" 2>/dev/null || return 1
    if [[ -r "/proc/$pid/cmdline" ]]; then
        tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q 'kafka\.Kafka' || return 1
    fi
    echo "$pid"
}

port_in_use() {
    (exec 3<>"/dev/tcp/$KAFKA_HOST/$1") 2>/dev/null
}

# A real Kafka round trip with nothing but the Python standard library: a
# Metadata v4 request (Kafka 4 dropped v0-3); ready once the broker answers
# with at least one live broker.
probe() {
    "$PYTHON" - "$KAFKA_HOST" "${1:-$KAFKA_PORT}" "${2:-1}" <<'PY' 2>/dev/null
import socket, struct, sys
host, port, want = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
client = b"kafka.sh"
req = struct.pack(">hhih", 3, 4, 7, len(client)) + client   # Metadata v4, header v1
req += struct.pack(">ib", -1, 0)                             # all topics, no auto-create
with socket.create_connection((host, port), timeout=3) as s:
    s.settimeout(3)
    s.sendall(struct.pack(">i", len(req)) + req)
    def recv(n):
        buf = b""
        while len(buf) < n:
            chunk = s.recv(n - len(buf))
            if not chunk:
                raise EOFError
            buf += chunk
        return buf
    size, = struct.unpack(">i", recv(4))
    data = recv(size)
corr, _throttle, nbrokers = struct.unpack(">iii", data[:12])
sys.exit(0 if corr == 7 and nbrokers >= want else 1)
PY
}

show_log_tail() {
    local f
    for f in "$STDOUT_LOG" "$SERVER_LOG"; do
        if [[ -s "$f" ]]; then
            log "---- last 40 lines of $f ----"
            tail -n 40 "$f" >&2
        fi
    done
}

write_config() {
    mkdir -p "$KAFKA_DATA_DIR/logs" "$LOG_DIRS"
    local QUORUM
    if [[ -n "$KAFKA_VOTERS" ]]; then
        QUORUM="controller.quorum.voters=$KAFKA_VOTERS"
    else
        QUORUM="controller.quorum.bootstrap.servers=$KAFKA_HOST:$KAFKA_CONTROLLER_PORT"
    fi
    cat >"$PROPS" <<EOF
# Written by deploy/kafka/kafka.sh -- regenerated on every start; edit the script, not this file.
process.roles=broker,controller
node.id=$KAFKA_NODE_ID
$QUORUM
listeners=PLAINTEXT://$KAFKA_HOST:$KAFKA_PORT,CONTROLLER://$KAFKA_HOST:$KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://$KAFKA_HOST:$KAFKA_PORT,CONTROLLER://$KAFKA_HOST:$KAFKA_CONTROLLER_PORT
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$LOG_DIRS

# internal topics: one replica on a single node, three (two in sync) on a cluster
offsets.topic.replication.factor=$KAFKA_REPLICATION
offsets.topic.num.partitions=10
transaction.state.log.replication.factor=$KAFKA_REPLICATION
transaction.state.log.min.isr=$KAFKA_MIN_ISR
share.coordinator.state.topic.replication.factor=$KAFKA_REPLICATION
share.coordinator.state.topic.min.isr=$KAFKA_MIN_ISR
default.replication.factor=$KAFKA_REPLICATION
min.insync.replicas=$KAFKA_MIN_ISR

num.partitions=$KAFKA_NUM_PARTITIONS
# off by default: a topic nobody created explicitly would silently get
# num.partitions (1) and break co-partitioning; create topics with their
# partition counts up front (kafka.sh topics --create / an admin client)
auto.create.topics.enable=$KAFKA_AUTO_CREATE_TOPICS
delete.topic.enable=true
# consumers join a group at once instead of after the default 3 s delay
group.initial.rebalance.delay.ms=0
# clients asking for a shorter session timeout get InvalidSessionTimeoutError
group.min.session.timeout.ms=$KAFKA_GROUP_MIN_SESSION_TIMEOUT_MS

# small footprint for a laptop/CI box
num.network.threads=2
num.io.threads=4
log.retention.hours=24
log.segment.bytes=104857600
log.retention.check.interval.ms=60000
EOF
    cat >"$LOG4J_CONF" <<'EOF'
<?xml version="1.0" encoding="UTF-8"?>
<!-- Written by deploy/kafka/kafka.sh -->
<Configuration status="WARN">
  <Appenders>
    <RollingFile name="server" fileName="${sys:kafka.logs.dir}/server.log"
                 filePattern="${sys:kafka.logs.dir}/server.log.%i">
      <PatternLayout pattern="[%d] %p %m (%c)%n"/>
      <Policies><SizeBasedTriggeringPolicy size="20 MB"/></Policies>
      <DefaultRolloverStrategy max="3"/>
    </RollingFile>
  </Appenders>
  <Loggers>
    <Root level="${sys:kafka.root.log.level:-INFO}"><AppenderRef ref="server"/></Root>
    <Logger name="kafka.request.logger" level="WARN"/>
    <Logger name="kafka.network.RequestChannel$" level="WARN"/>
    <Logger name="state.change.logger" level="WARN"/>
    <Logger name="org.apache.kafka.clients" level="WARN"/>
  </Loggers>
</Configuration>
EOF
}

java_tool() {
    # Short-lived JVM for the command-line tools: quick start, small heap.
    "$JAVA" -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 \
        -Dlog4j2.configurationFile="$LOG4J_TOOLS_CONF" \
        -cp "$LIBS/*" "$@"
}

LOG4J_TOOLS_CONF="$VERSION_DIR/log4j2-tools.xml"
write_tools_log_config() {
    [[ -f "$LOG4J_TOOLS_CONF" ]] && return 0
    mkdir -p "$VERSION_DIR"
    cat >"$LOG4J_TOOLS_CONF" <<'EOF'
<?xml version="1.0" encoding="UTF-8"?>
<Configuration status="WARN">
  <Appenders><Console name="err" target="SYSTEM_ERR"><PatternLayout pattern="%p %m (%c)%n"/></Console></Appenders>
  <Loggers><Root level="WARN"><AppenderRef ref="err"/></Root></Loggers>
</Configuration>
EOF
}

format_storage() {
    local stamp="host=$KAFKA_HOST controller_port=$KAFKA_CONTROLLER_PORT voters=$KAFKA_VOTERS"
    if [[ -f "$LOG_DIRS/meta.properties" ]]; then
        # --standalone stores the controller endpoint in the metadata log:
        # moving the controller afterwards needs a fresh data dir.
        if [[ -f "$FORMAT_STAMP" && "$(cat "$FORMAT_STAMP")" != "$stamp" ]]; then
            die "$KAFKA_DATA_DIR was formatted with $(cat "$FORMAT_STAMP"), now $stamp; run 'kafka.sh stop --wipe' first"
        fi
        return 0
    fi
    local cluster_id="$KAFKA_CLUSTER_ID"
    [[ -n "$cluster_id" ]] || cluster_id="$(new_cluster_id)"
    log "formatting $LOG_DIRS (cluster id $cluster_id)"
    write_tools_log_config
    local quorum=(--standalone)
    [[ -n "$KAFKA_VOTERS" ]] && quorum=()  # a static quorum: the voters are in the configuration
    java_tool kafka.tools.StorageTool format "${quorum[@]}" \
        --cluster-id "$cluster_id" --config "$PROPS" >"$KAFKA_DATA_DIR/format.out" 2>&1 \
        || { cat "$KAFKA_DATA_DIR/format.out" >&2; die "storage format failed"; }
    echo "$stamp" >"$FORMAT_STAMP"
}

# ---------------------------------------------------------------- commands -

cmd_start() {
    local pid
    if pid="$(running_pid)"; then
        log "already running (pid $pid) on $KAFKA_HOST:$KAFKA_PORT"
        echo "$KAFKA_HOST:$KAFKA_PORT"
        return 0
    fi
    rm -f "$PID_FILE"
    check_java
    command -v "$PYTHON" >/dev/null || die "python ('$PYTHON') not found (needed for the readiness probe)"
    cmd_fetch
    local port
    for port in "$KAFKA_PORT" "$KAFKA_CONTROLLER_PORT"; do
        if port_in_use "$port"; then
            die "port $KAFKA_HOST:$port is already in use by another process"
        fi
    done
    local t0=$SECONDS
    write_config
    format_storage

    log "starting Kafka $KAFKA_VERSION on $KAFKA_HOST:$KAFKA_PORT (data: $KAFKA_DATA_DIR)"
    # shellcheck disable=SC2086  # heap/JVM options are word lists
    nohup "$JAVA" $KAFKA_HEAP_OPTS \
        -server -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35 \
        -XX:+ExplicitGCInvokesConcurrent -Djava.awt.headless=true \
        -Dkafka.logs.dir="$KAFKA_DATA_DIR/logs" \
        -Dkafka.root.log.level="$KAFKA_LOG_LEVEL" \
        -Dlog4j2.configurationFile="$LOG4J_CONF" \
        $KAFKA_JVM_OPTS \
        -cp "$LIBS/*" kafka.Kafka "$PROPS" \
        >>"$STDOUT_LOG" 2>&1 </dev/null &
    pid=$!
    echo "$pid" >"$PID_FILE"

    local deadline=$((SECONDS + KAFKA_START_TIMEOUT))
    while true; do
        if ! kill -0 "$pid" 2>/dev/null; then
            rm -f "$PID_FILE"
            show_log_tail
            die "broker process $pid exited during start-up"
        fi
        if probe "$KAFKA_PORT" "$KAFKA_WAIT_BROKERS"; then
            log "ready: bootstrap servers $KAFKA_HOST:$KAFKA_PORT (pid $pid, $((SECONDS - t0)) s)"
            echo "$KAFKA_HOST:$KAFKA_PORT"   # stdout: BOOTSTRAP=$(kafka.sh start)
            return 0
        fi
        if ((SECONDS >= deadline)); then
            show_log_tail
            log "not answering after ${KAFKA_START_TIMEOUT} s; stopping it"
            stop_pid "$pid"
            rm -f "$PID_FILE"
            exit 1
        fi
        sleep 0.5
    done
}

stop_pid() {
    local pid="$1"
    kill -TERM "$pid" 2>/dev/null || return 0
    local deadline=$((SECONDS + KAFKA_STOP_TIMEOUT))
    while kill -0 "$pid" 2>/dev/null; do
        if ((SECONDS >= deadline)); then
            log "pid $pid still alive after ${KAFKA_STOP_TIMEOUT} s; sending SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
            sleep 1
            break
        fi
        sleep 0.5
    done
}

cmd_stop() {
    local wipe="$KAFKA_WIPE" arg
    for arg in "$@"; do
        case "$arg" in
            --wipe) wipe=1 ;;
            *) die "stop: unknown option '$arg'" ;;
        esac
    done
    local pid
    if pid="$(running_pid)"; then
        log "stopping pid $pid"
        stop_pid "$pid"
        log "stopped"
    else
        log "not running"
    fi
    rm -f "$PID_FILE"
    if [[ "$wipe" == 1 ]]; then
        wipe_data_dir
    fi
}

wipe_data_dir() {
    [[ -d "$KAFKA_DATA_DIR" ]] || return 0
    local real
    real="$(cd "$KAFKA_DATA_DIR" && pwd -P)"
    case "$real" in
        / | "$HOME" | /tmp | /root | /home | /usr | /var | /etc)
            die "refusing to wipe '$real'" ;;
    esac
    # Only ever delete a directory this script created.
    if [[ -f "$real/server.properties" ]] && grep -q 'kafka.sh' "$real/server.properties"; then
        rm -rf "$real"
        log "wiped $real"
    elif [[ -z "$(ls -A "$real")" ]]; then
        rmdir "$real"
    else
        die "refusing to wipe '$real': it has no server.properties written by kafka.sh"
    fi
}

cmd_status() {
    local pid
    if pid="$(running_pid)"; then
        echo "running (pid $pid, $KAFKA_HOST:$KAFKA_PORT, data $KAFKA_DATA_DIR)"
        return 0
    fi
    echo "not running"
    return 1
}

cmd_topics() {
    fetch_complete || die "jars not fetched; run 'kafka.sh fetch' (or start) first"
    check_java
    write_tools_log_config
    java_tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$KAFKA_HOST:$KAFKA_PORT" "$@"
}

new_cluster_id() {
    # a Kafka Uuid: 16 random bytes, URL-safe base64 without padding; like Kafka's own
    # Uuid.randomUuid(), never one starting with "-" (the format tool would take it for an option)
    local id="-"
    while [[ "$id" == -* ]]; do
        id="$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')"
    done
    echo "$id"
}

# ---------------------------------------------------------------- cluster --

# node N's environment: its ports, data dir and the shared quorum (three voters)
node_env() {
    local n="$1" base="$KAFKA_PORT"
    local voters="1@$KAFKA_HOST:$((base + 1)),2@$KAFKA_HOST:$((base + 3)),3@$KAFKA_HOST:$((base + 5))"
    printf '%s\n' "KAFKA_NODE_ID=$n" "KAFKA_PORT=$((base + 2 * (n - 1)))" \
        "KAFKA_CONTROLLER_PORT=$((base + 2 * (n - 1) + 1))" "KAFKA_DATA_DIR=$KAFKA_DATA_DIR/node-$n" \
        "KAFKA_VOTERS=$voters" "KAFKA_REPLICATION=${KAFKA_CLUSTER_REPLICATION:-3}" \
        "KAFKA_MIN_ISR=${KAFKA_CLUSTER_MIN_ISR:-2}" "KAFKA_WAIT_BROKERS=${KAFKA_WAIT_BROKERS_CLUSTER:-3}" \
        "KAFKA_HEAP_OPTS=${KAFKA_NODE_HEAP_OPTS:--Xms128m -Xmx384m}"
}

on_node() {  # on_node N COMMAND...: this script's COMMAND for node N
    local n="$1"; shift
    local vars=()
    mapfile -t vars < <(node_env "$n")
    env "${vars[@]}" KAFKA_CLUSTER_ID="$(cluster_id)" bash "${BASH_SOURCE[0]}" "$@"
}

cluster_id() {  # one id for the three nodes, kept beside them
    local file="$KAFKA_DATA_DIR/cluster.id"
    mkdir -p "$KAFKA_DATA_DIR"
    [[ -s "$file" ]] || new_cluster_id >"$file"
    cat "$file"
}

cmd_cluster() {
    local sub="${1:-}"
    [[ $# -gt 0 ]] && shift
    local n pids=() failed=0
    case "$sub" in
        start)
            cmd_fetch
            cluster_id >/dev/null  # before the nodes start side by side
            for n in 1 2 3; do
                on_node "$n" start >/dev/null &
                pids+=($!)
            done
            for n in "${pids[@]}"; do wait "$n" || failed=1; done
            if ((failed)); then
                for n in 1 2 3; do on_node "$n" stop >/dev/null 2>&1 || true; done
                die "the cluster did not start (see the nodes' logs under $KAFKA_DATA_DIR/node-*/)"
            fi
            echo "$KAFKA_HOST:$KAFKA_PORT,$KAFKA_HOST:$((KAFKA_PORT + 2)),$KAFKA_HOST:$((KAFKA_PORT + 4))"
            ;;
        start-node) on_node "${1:?node 1..3}" start ;;
        stop)
            # side by side: a node left alone without a quorum cannot shut down cleanly
            for n in 1 2 3; do on_node "$n" stop & pids+=($!); done
            for n in "${pids[@]}"; do wait "$n" || true; done
            if [[ "${1:-}" == --wipe || "$KAFKA_WIPE" == 1 ]]; then
                for n in 1 2 3; do on_node "$n" stop --wipe >/dev/null 2>&1 || true; done
                rm -f "$KAFKA_DATA_DIR/cluster.id"
                rmdir "$KAFKA_DATA_DIR" 2>/dev/null || true
            fi
            ;;
        status) for n in 1 2 3; do printf 'node %s: ' "$n"; on_node "$n" status || true; done ;;
        kill)
            n="${1:?node 1..3}"
            local pid_file="$KAFKA_DATA_DIR/node-$n/kafka.pid" pid
            [[ -f "$pid_file" ]] || die "node $n is not running"
            pid="$(tr -dc '0-9' <"$pid_file")"
            kill -KILL "$pid" 2>/dev/null || true
            rm -f "$pid_file"
            log "killed node $n (pid $pid)"
            ;;
        *) die "cluster: start | start-node N | stop [--wipe] | status | kill N" ;;
    esac
}

main() {
    local cmd="${1:-}"
    [[ $# -gt 0 ]] && shift
    case "$cmd" in
        fetch) cmd_fetch "$@" ;;
        start) cmd_start "$@" ;;
        stop) cmd_stop "$@" ;;
        status) cmd_status "$@" ;;
        topics) cmd_topics "$@" ;;
        cluster-id) new_cluster_id ;;
        cluster) cmd_cluster "$@" ;;
        -h | --help | help) usage ;;
        *) usage >&2; exit 2 ;;
    esac
}

main "$@"
