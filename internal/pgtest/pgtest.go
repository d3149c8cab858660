// Package pgtest starts a real PostgreSQL server for tests: Debian's
// postgresql binaries (/usr/lib/postgresql/<version>/bin), initdb into a
// temporary directory and postgres listening on 127.0.0.1 at a free port,
// with password authentication (scram-sha-256). PostgreSQL refuses to run as
// root, so under root (CI) both run as the postgres user the Debian package
// creates (or nobody), the data directory owned by it.
//
// Tests skip with a message when PostgreSQL is not installed, and fail
// instead when the environment variable CI is "true". The server listens on
// 127.0.0.1 only, without a Unix socket, and is stopped when the test (or,
// for Shared, the test binary through Main) ends; it also dies with the test
// binary (parent-death signal).
package pgtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// BinEnv names the environment variable that may point at a folder holding
// initdb and postgres, instead of the newest /usr/lib/postgresql/*/bin.
const BinEnv = "MXAUDIT_PG_BIN"

// User is the superuser the test server is created with.
const User = "mxaudit"

// startTimeout bounds initdb and the server's start.
const startTimeout = 90 * time.Second

// Server is a running PostgreSQL server.
type Server struct {
	Host string // 127.0.0.1
	Port int

	password string
	dir      string
	cmd      *exec.Cmd
	log      *syncBuffer
	done     chan struct{}
	dbs      atomic.Int64
}

// BinDir returns the folder holding initdb and postgres, or an error saying
// what to install.
func BinDir() (string, error) {
	if d := os.Getenv(BinEnv); d != "" {
		return d, nil
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	slices.SortFunc(dirs, func(a, b string) int { return version(b) - version(a) })
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "postgres")); err == nil {
			return d, nil
		}
	}
	if p, err := exec.LookPath("postgres"); err == nil {
		return filepath.Dir(p), nil
	}
	return "", errors.New("pgtest: PostgreSQL not found in /usr/lib/postgresql/*/bin nor on PATH (Debian package postgresql, which .ci/run installs)")
}

// version reads the major version out of /usr/lib/postgresql/<version>/bin.
func version(dir string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(dir)))
	return v
}

// Require skips t when PostgreSQL is not installed, or fails it when CI=true.
func Require(t testing.TB) {
	t.Helper()
	if _, err := BinDir(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
}

// Start starts a server of its own for t, stopped when t ends.
func Start(t testing.TB) *Server {
	t.Helper()
	Require(t)
	s, err := start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	return s
}

var shared struct {
	sync.Mutex
	s   *Server
	err error
}

// Shared returns the server shared by the tests of this test binary,
// starting it at the first call; Main stops it.
func Shared(t testing.TB) *Server {
	t.Helper()
	Require(t)
	shared.Lock()
	defer shared.Unlock()
	if shared.s == nil && shared.err == nil {
		shared.s, shared.err = start()
	}
	if shared.err != nil {
		t.Fatal(shared.err)
	}
	return shared.s
}

// Main runs the tests and stops the shared server: a TestMain calls
// os.Exit(pgtest.Main(m)).
func Main(m *testing.M) int {
	code := m.Run()
	shared.Lock()
	if shared.s != nil {
		shared.s.Stop()
	}
	shared.Unlock()
	return code
}

// runAs returns the credentials initdb and postgres run with: nil for the
// current user, the postgres user (else nobody) under root.
func runAs() (uid, gid int, err error) {
	if os.Geteuid() != 0 {
		return -1, -1, nil
	}
	for _, name := range []string{"postgres", "nobody"} {
		u, err := user.Lookup(name)
		if err != nil {
			continue
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		return uid, gid, nil
	}
	return 0, 0, errors.New("pgtest: running as root and there is neither a postgres nor a nobody user to run PostgreSQL as")
}

func start() (*Server, error) {
	bin, err := BinDir()
	if err != nil {
		return nil, err
	}
	uid, gid, err := runAs()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "mxaudit-pgtest-")
	if err != nil {
		return nil, fmt.Errorf("pgtest: %w", err)
	}
	s := &Server{Host: "127.0.0.1", dir: dir, password: randomPassword()}
	if err := s.initdb(bin, uid, gid); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	for attempt := 0; ; attempt++ {
		if err = s.run(bin, uid, gid); err == nil {
			return s, nil
		}
		if attempt == 2 || !strings.Contains(s.log.String(), "could not bind") {
			os.RemoveAll(dir)
			return nil, err
		}
	}
}

func randomPassword() string {
	return fmt.Sprintf("pgtest-%d-%d", os.Getpid(), time.Now().UnixNano())
}

// initdb creates the cluster in s.dir/data, owned by uid when it is not -1.
func (s *Server) initdb(bin string, uid, gid int) error {
	pw := filepath.Join(s.dir, "password")
	if err := os.WriteFile(pw, []byte(s.password+"\n"), 0o600); err != nil {
		return fmt.Errorf("pgtest: %w", err)
	}
	if uid >= 0 {
		for _, p := range []string{s.dir, pw} {
			if err := os.Chown(p, uid, gid); err != nil {
				return fmt.Errorf("pgtest: %w", err)
			}
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(bin, "initdb"), "-D", filepath.Join(s.dir, "data"), "-U", User,
		"--pwfile="+pw, "--auth=scram-sha-256", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync")
	cmd.Dir = s.dir
	setCredentials(cmd, uid, gid)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("pgtest: initdb: %w\n%s", err, out)
	}
	return os.Remove(pw)
}

// run starts postgres on a free loopback port and waits until it accepts connections.
func (s *Server) run(bin string, uid, gid int) error {
	port, err := freePort()
	if err != nil {
		return err
	}
	s.Port = port
	s.log = &syncBuffer{}
	s.done = make(chan struct{})
	s.cmd = exec.Command(filepath.Join(bin, "postgres"), "-D", filepath.Join(s.dir, "data"),
		"-c", "listen_addresses=127.0.0.1", "-c", "port="+strconv.Itoa(port), "-c", "unix_socket_directories=",
		"-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
		"-c", "max_connections=200", "-c", "shared_buffers=32MB", "-c", "log_min_messages=warning")
	s.cmd.Dir = s.dir
	s.cmd.Stdout, s.cmd.Stderr = s.log, s.log
	setCredentials(s.cmd, uid, gid)
	if err := s.cmd.Start(); err != nil {
		return fmt.Errorf("pgtest: starting postgres: %w", err)
	}
	go func() { s.cmd.Wait(); close(s.done) }()
	deadline := time.Now().Add(startTimeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		conn, err := pgx.Connect(ctx, s.URL("postgres"))
		cancel()
		if err == nil {
			conn.Close(context.Background())
			return nil
		}
		select {
		case <-s.done:
			return fmt.Errorf("pgtest: postgres exited: %s", s.log.String())
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.Stop()
			return fmt.Errorf("pgtest: postgres did not accept connections within %s: %v\n%s", startTimeout, err, s.log.String())
		}
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("pgtest: finding a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// URL returns the connection URL of database db, with the password.
func (s *Server) URL(db string) string {
	u := url.URL{Scheme: "postgres", User: url.UserPassword(User, s.password), Host: net.JoinHostPort(s.Host, strconv.Itoa(s.Port)),
		Path: "/" + db, RawQuery: "sslmode=disable&connect_timeout=10"}
	return u.String()
}

// Password returns the superuser's password (a test checks it is never printed).
func (s *Server) Password() string { return s.password }

// CreateDB creates a new empty database and returns its URL.
func (s *Server) CreateDB(t testing.TB) string {
	t.Helper()
	u, err := s.NewDatabase()
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// NewDatabase creates a new empty database and returns its URL (CreateDB
// for callers without a testing.TB, such as testscript commands).
func (s *Server) NewDatabase() (string, error) {
	name := fmt.Sprintf("t%d_%d", os.Getpid(), s.dbs.Add(1))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, s.URL("postgres"))
	if err != nil {
		return "", fmt.Errorf("pgtest: %w", err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		return "", fmt.Errorf("pgtest: creating database %s: %w", name, err)
	}
	return s.URL(name), nil
}

// StartServer starts a server the caller stops (Start for callers without
// a testing.TB); it fails when PostgreSQL is not installed (see BinDir).
func StartServer() (*Server, error) { return start() }

// Log returns what the server printed.
func (s *Server) Log() string { return s.log.String() }

// Stop shuts the server down (fast shutdown, then SIGKILL after 10 s) and
// removes its directory; it is safe to call more than once.
func (s *Server) Stop() {
	if s.cmd != nil && s.cmd.Process != nil {
		select {
		case <-s.done:
		default:
			s.cmd.Process.Signal(os.Interrupt) // SIGINT: fast shutdown
			select {
			case <-s.done:
			case <-time.After(10 * time.Second):
				s.cmd.Process.Kill()
				<-s.done
			}
		}
	}
	if s.dir != "" {
		os.RemoveAll(s.dir)
		s.dir = ""
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.b.Len() > 1<<20 { // keep the first MiB of the server's log
		return len(p), nil
	}
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
