// Package testenv starts real servers (Redis, Redis Cluster, PostgreSQL)
// on loopback with throwaway data directories, and SIP peers (SIPp,
// Kamailio, Asterisk: sipp.go), for tests. Servers are the Debian
// packages scripts/test.sh installs; a test that cannot find them fails
// (it is not skipped).
package testenv

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// freePort returns a loopback TCP port that was free a moment ago.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// waitTCP waits until addr accepts connections or the process exits.
func waitTCP(addr string, exited <-chan struct{}, d time.Duration) error {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return errors.New("server exited")
		default:
		}
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("%s not accepting connections after %s", addr, d)
}

// proc is one server process.
type proc struct {
	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
	log    *os.File
}

func (p *proc) start(cmd *exec.Cmd, logPath string) error {
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	cmd.Stdout, cmd.Stderr = f, f
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	if err := cmd.Start(); err != nil {
		f.Close()
		return err
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); f.Close(); close(exited) }()
	p.mu.Lock()
	p.cmd, p.exited, p.log = cmd, exited, f
	p.mu.Unlock()
	return nil
}

// stop sends sig and waits for the process to exit (SIGKILL after 10 s).
func (p *proc) stop(sig syscall.Signal) {
	p.mu.Lock()
	cmd, exited := p.cmd, p.exited
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(sig)
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		<-exited
	}
}

func tail(path string) string {
	b, _ := os.ReadFile(path)
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}

// Redis is a redis-server started for a test.
type Redis struct {
	Addr string
	bin  string
	dir  string
	args []string
	p    proc
}

// StartRedis starts redis-server on a free loopback port with an
// append-only file fsynced on every write, so a restart keeps every
// acknowledged write. extra are more redis-server arguments.
func StartRedis(extra ...string) (*Redis, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, fmt.Errorf("testenv: redis-server not installed (scripts/test.sh installs it): %w", err)
	}
	dir, err := os.MkdirTemp("", "tollgate-redis-")
	if err != nil {
		return nil, err
	}
	var lastErr error
	for range 5 {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		r := &Redis{Addr: "127.0.0.1:" + strconv.Itoa(port), bin: bin, dir: dir}
		r.args = append([]string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--dir", dir,
			"--save", "", "--appendonly", "yes", "--appendfsync", "always", "--protected-mode", "no"}, extra...)
		if lastErr = r.Start(); lastErr == nil {
			return r, nil
		}
	}
	os.RemoveAll(dir)
	return nil, lastErr
}

// Start starts (or restarts) the server on its port and data directory.
func (r *Redis) Start() error {
	cmd := exec.Command(r.bin, r.args...)
	logPath := filepath.Join(r.dir, "redis.log")
	if err := r.p.start(cmd, logPath); err != nil {
		return err
	}
	if err := waitTCP(r.Addr, r.p.exited, 10*time.Second); err != nil {
		r.p.stop(syscall.SIGKILL)
		return fmt.Errorf("testenv: redis-server: %w\n%s", err, tail(logPath))
	}
	return nil
}

// Stop stops the server (SIGTERM: it finishes its append-only file).
func (r *Redis) Stop() { r.p.stop(syscall.SIGTERM) }

// Kill kills the server with SIGKILL.
func (r *Redis) Kill() { r.p.stop(syscall.SIGKILL) }

// Close stops the server and removes its data.
func (r *Redis) Close() {
	r.p.stop(syscall.SIGKILL)
	os.RemoveAll(r.dir)
}

// NewRedis starts a Redis for t and stops it when t ends.
func NewRedis(t testing.TB, extra ...string) *Redis {
	t.Helper()
	r, err := StartRedis(extra...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	return r
}

// RedisCluster is a Redis Cluster of masters without replicas.
type RedisCluster struct {
	Addrs []string
	nodes []*Redis
}

// NewRedisCluster starts n (≥ 3) cluster-enabled servers and joins them
// with redis-cli --cluster create.
func NewRedisCluster(t testing.TB, n int) *RedisCluster {
	t.Helper()
	c := &RedisCluster{}
	for range n {
		r, err := StartRedis("--cluster-enabled", "yes", "--cluster-node-timeout", "2000")
		if err != nil {
			t.Fatal(err)
		}
		// Each node keeps its cluster state file in its own directory.
		t.Cleanup(r.Close)
		c.nodes = append(c.nodes, r)
		c.Addrs = append(c.Addrs, r.Addr)
	}
	args := append([]string{"--cluster", "create"}, c.Addrs...)
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	out, err := exec.Command("redis-cli", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("testenv: redis-cli --cluster create: %v\n%s", err, out)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		ok := true
		for _, a := range c.Addrs {
			h, p, _ := net.SplitHostPort(a)
			info, err := exec.Command("redis-cli", "-h", h, "-p", p, "cluster", "info").Output()
			if err != nil || !strings.Contains(string(info), "cluster_state:ok") {
				ok = false
			}
		}
		if ok {
			return c
		}
		if time.Now().After(deadline) {
			t.Fatal("testenv: redis cluster not ok after 20 s")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Postgres is a PostgreSQL server started for a test, owned by the
// postgres system user when the test runs as root (PostgreSQL refuses to
// run as root).
type Postgres struct {
	Port int
	dir  string
	bin  string
	cred *syscall.Credential
	p    proc
}

// pgBin finds the Debian PostgreSQL binaries (/usr/lib/postgresql/N/bin),
// newest version first.
func pgBin() (string, error) {
	ms, _ := filepath.Glob("/usr/lib/postgresql/*/bin/postgres")
	best, bestV := "", -1
	for _, m := range ms {
		v, err := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(m))))
		if err == nil && v > bestV {
			best, bestV = filepath.Dir(m), v
		}
	}
	if best == "" {
		return "", errors.New("testenv: PostgreSQL not installed under /usr/lib/postgresql (scripts/test.sh installs the postgresql package)")
	}
	return best, nil
}

// StartPostgres runs initdb in a fresh directory and starts postgres on a
// free loopback port, trusting local connections.
func StartPostgres() (*Postgres, error) {
	bin, err := pgBin()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "tollgate-pg-")
	if err != nil {
		return nil, err
	}
	pg := &Postgres{dir: dir, bin: bin}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			os.RemoveAll(dir)
			return nil, fmt.Errorf("testenv: running as root needs the postgres user: %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		pg.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		if err := os.Chown(dir, uid, gid); err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
		// MkdirTemp makes the directory 0700 under a world-readable /tmp.
	}
	data := filepath.Join(dir, "data")
	cmd := exec.Command(filepath.Join(bin, "initdb"), "-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync", "--no-locale")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: pg.cred}
	if out, err := cmd.CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("testenv: initdb: %v\n%s", err, out)
	}
	var lastErr error
	for range 5 {
		if pg.Port, err = freePort(); err != nil {
			return nil, err
		}
		if lastErr = pg.Start(); lastErr == nil {
			return pg, nil
		}
	}
	os.RemoveAll(dir)
	return nil, lastErr
}

// Start starts (or restarts) the server on its port and data directory.
func (pg *Postgres) Start() error {
	cmd := exec.Command(filepath.Join(pg.bin, "postgres"), "-D", filepath.Join(pg.dir, "data"),
		"-p", strconv.Itoa(pg.Port), "-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories="+pg.dir,
		"-c", "fsync=off", "-c", "full_page_writes=off", "-c", "max_connections=200")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: pg.cred}
	logPath := filepath.Join(pg.dir, "postgres.log")
	if err := pg.p.start(cmd, logPath); err != nil {
		return err
	}
	addr := "127.0.0.1:" + strconv.Itoa(pg.Port)
	if err := waitTCP(addr, pg.p.exited, 30*time.Second); err != nil {
		pg.p.stop(syscall.SIGKILL)
		return fmt.Errorf("testenv: postgres: %w\n%s", err, tail(logPath))
	}
	// Accepting TCP is not yet accepting queries: wait for "ready".
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if ready(logPath) {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return errors.New("testenv: postgres not ready after 30 s")
}

func ready(logPath string) bool {
	f, err := os.Open(logPath)
	if err != nil {
		return false
	}
	defer f.Close()
	n := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if strings.Contains(sc.Text(), "ready to accept connections") {
			n++
		}
		if strings.Contains(sc.Text(), "shut down") || strings.Contains(sc.Text(), "terminated by signal") {
			n = 0
		}
	}
	return n > 0
}

// DSN returns a connection string for database db (default "postgres").
func (pg *Postgres) DSN(db string) string {
	if db == "" {
		db = "postgres"
	}
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", pg.Port, db)
}

// CreateDatabase makes an empty database and returns its DSN.
func (pg *Postgres) CreateDatabase(name string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(pg.bin, "createdb"), "-h", "127.0.0.1", "-p", strconv.Itoa(pg.Port), "-U", "postgres", name)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("testenv: createdb %s: %v\n%s", name, err, out)
	}
	return pg.DSN(name), nil
}

// Stop shuts the server down (SIGINT: fast shutdown).
func (pg *Postgres) Stop() { pg.p.stop(syscall.SIGINT) }

// Kill kills the postmaster with SIGKILL; the next Start recovers from
// the write-ahead log.
func (pg *Postgres) Kill() {
	pg.p.stop(syscall.SIGKILL)
	// Backends notice their postmaster is gone and exit; give them a moment
	// so the next start does not find the shared memory in use.
	time.Sleep(300 * time.Millisecond)
}

// Close stops the server and removes its data.
func (pg *Postgres) Close() {
	pg.p.stop(syscall.SIGINT)
	os.RemoveAll(pg.dir)
}

// NewPostgres starts a PostgreSQL for t and stops it when t ends.
func NewPostgres(t testing.TB) *Postgres {
	t.Helper()
	pg, err := StartPostgres()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pg.Close)
	return pg
}
