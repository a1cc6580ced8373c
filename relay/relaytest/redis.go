package relaytest

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Redis is a real redis-server started for one test on a free loopback port, without
// persistence. Stop and Start stop it (by PID) and start it again on the same port, for tests
// of a relay that loses its shared state and gets it back.
type Redis struct {
	t    testing.TB
	bin  string
	Port int
	// URL is redis://127.0.0.1:PORT/0.
	URL string

	mu  sync.Mutex
	cmd *exec.Cmd
}

// StartRedis starts redis-server on a free 127.0.0.1 port with persistence off, waits
// until it answers PING and stops it in t.Cleanup. It skips the test, saying why, when
// redis-server is not installed; with CCRELAY_REDIS_REQUIRED=1 in the environment (CI sets it
// once it has installed the package) it fails instead.
func StartRedis(t testing.TB) *Redis {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("CCRELAY_REDIS_REQUIRED") == "1" {
			t.Fatalf("relaytest: redis-server (CCRELAY_REDIS_REQUIRED=1): %v", err)
		}
		t.Skipf("relaytest: redis-server is not installed (apt-get install redis-server), so the shared-state tests cannot run: %v", err)
	}
	port, err := freePort()
	if err != nil {
		t.Fatalf("relaytest: redis: %v", err)
	}
	r := &Redis{t: t, bin: bin, Port: port, URL: "redis://127.0.0.1:" + strconv.Itoa(port) + "/0"}
	t.Cleanup(r.Stop)
	r.Start()
	return r
}

// freePort asks the kernel for a free loopback port.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Start starts the server on its port, empty, and waits until it answers PING (at most 10 s).
func (r *Redis) Start() {
	r.t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cmd != nil {
		return
	}
	cmd := exec.Command(r.bin, "--port", strconv.Itoa(r.Port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--protected-mode", "yes", "--loglevel", "warning")
	cmd.Dir = r.t.TempDir()
	if err := cmd.Start(); err != nil {
		r.t.Fatalf("relaytest: start redis-server: %v", err)
	}
	r.cmd = cmd
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := ping(r.Port)
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("relaytest: redis-server on port %d does not answer PING: %v", r.Port, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Stop stops the server by its PID (SIGTERM, then SIGKILL after 5 s) and waits for it.
func (r *Redis) Stop() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cmd == nil {
		return
	}
	cmd := r.cmd
	r.cmd = nil
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	syscall.Kill(cmd.Process.Pid, syscall.SIGCONT) // in case it was paused
	syscall.Kill(cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		syscall.Kill(cmd.Process.Pid, syscall.SIGKILL)
		<-done
	}
}

// Pause stops the server's process (SIGSTOP) without closing its connections: a Redis that
// does not answer. Resume continues it.
func (r *Redis) Pause() { r.signal(syscall.SIGSTOP) }

// Resume continues a paused server (SIGCONT).
func (r *Redis) Resume() { r.signal(syscall.SIGCONT) }

func (r *Redis) signal(sig syscall.Signal) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cmd != nil {
		syscall.Kill(r.cmd.Process.Pid, sig)
	}
}

// Do sends one command and returns its raw RESP reply (at most 4 KiB: "+OK\r\n",
// "*1\r\n$3\r\nkey\r\n"), for tests that look at what the relay stored.
func (r *Redis) Do(args ...string) (string, error) {
	return command(r.Port, args...)
}

// ping sends PING and expects +PONG.
func ping(port int) error {
	reply, err := command(port, "PING")
	if err != nil {
		return err
	}
	if reply != "+PONG\r\n" {
		return fmt.Errorf("PING answered %q", reply)
	}
	return nil
}

// command sends one command as a RESP array and reads its reply (what one read returns).
func command(port int, args ...string) (string, error) {
	c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(port), time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second))
	msg := "*" + strconv.Itoa(len(args)) + "\r\n"
	for _, a := range args {
		msg += "$" + strconv.Itoa(len(a)) + "\r\n" + a + "\r\n"
	}
	if _, err := c.Write([]byte(msg)); err != nil {
		return "", err
	}
	buf := make([]byte, 4096)
	n, err := c.Read(buf)
	if n == 0 {
		if err == nil {
			err = errors.New("empty reply")
		}
		return "", err
	}
	return string(buf[:n]), nil
}
