# Shared by the test servers' scripts (kafka.sh, mosquitto.sh): loopback ports.

free_port() {
  # Bind port 0 on loopback and let the kernel pick; tiny race is acceptable for tests.
  if command -v python3 >/dev/null; then
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
  else
    node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
  fi
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
