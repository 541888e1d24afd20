# Shared by the test servers' scripts (kafka.sh, mosquitto.sh, postgres.sh, trino.sh, ...): loopback ports.

free_port() {
  # A free port below the kernel's ephemeral range: a broker restarted on its old port (the restart tests) must
  # not find it taken by some other process's outgoing connection, whose local port comes from that range.
  local low=32768 p
  if [[ -r /proc/sys/net/ipv4/ip_local_port_range ]]; then read -r low _ < /proc/sys/net/ipv4/ip_local_port_range; fi
  (( low > 11000 )) || low=32768
  for _ in $(seq 1 100); do
    p=$((10000 + RANDOM % (low - 10000)))
    if node -e 'const s=require("net").createServer();s.once("error",()=>process.exit(1));s.listen(+process.argv[1],"127.0.0.1",()=>s.close())' "$p" 2>/dev/null; then
      echo "$p"
      return 0
    fi
  done
  echo "no free port below $low on 127.0.0.1" >&2
  return 1
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
