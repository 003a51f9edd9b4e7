package e2e

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"testing"
)

// privatePostgres is a PostgreSQL cluster of its own, in a temporary
// directory, that a test may stop and start: the machine's server (which
// the other tests share) is never touched.
type privatePostgres struct {
	t        *testing.T
	bin, dir string
	port     string
	dsn      string
}

// newPrivatePostgres runs initdb and starts the cluster on a free port. It
// needs Debian's PostgreSQL binaries and root (the server runs as the
// postgres user); without them the test skips, or fails in CI.
func newPrivatePostgres(t *testing.T) *privatePostgres {
	t.Helper()
	need := func(why string) {
		if os.Getenv("CI") != "" {
			t.Fatalf("a private PostgreSQL server: %s", why)
		}
		t.Skipf("no private PostgreSQL server: %s", why)
	}
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(bins) == 0 {
		need("no /usr/lib/postgresql/*/bin/initdb (apt-get install postgresql)")
	}
	if os.Geteuid() != 0 {
		need("the test runs the server as the postgres user, which needs root")
	}
	pgUser, err := user.Lookup("postgres")
	if err != nil {
		need("no postgres user")
	}
	uid, _ := strconv.Atoi(pgUser.Uid)
	gid, _ := strconv.Atoi(pgUser.Gid)
	base, err := os.MkdirTemp("", "idp-pg-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(base, uid, gid); err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(freeAddr(t))
	pg := &privatePostgres{t: t, bin: filepath.Dir(bins[len(bins)-1]), dir: base, port: port}
	pg.dsn = "postgres://postgres@127.0.0.1:" + port + "/postgres?sslmode=disable"
	t.Cleanup(func() {
		pg.pgctl("stop", "-m", "immediate")
		os.RemoveAll(base)
	})
	pg.run(filepath.Join(pg.bin, "initdb"), "-D", filepath.Join(base, "data"), "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync")
	pg.start()
	return pg
}

func (pg *privatePostgres) run(name string, args ...string) {
	pg.t.Helper()
	cmd := exec.Command("runuser", append([]string{"-u", "postgres", "--", name}, args...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		pg.t.Fatalf("%s %v: %v\n%s", filepath.Base(name), args, err, out)
	}
}

func (pg *privatePostgres) pgctl(args ...string) error {
	cmd := exec.Command("runuser", append([]string{"-u", "postgres", "--", filepath.Join(pg.bin, "pg_ctl"), "-D", filepath.Join(pg.dir, "data")}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("pg_ctl %v: %v\n%s", args, err, out)
	}
	return nil
}

// start starts the server and waits until it accepts connections.
func (pg *privatePostgres) start() {
	pg.t.Helper()
	opts := fmt.Sprintf("-p %s -k %s -c listen_addresses=127.0.0.1 -c fsync=off", pg.port, pg.dir)
	if err := pg.pgctl("start", "-w", "-t", "30", "-l", filepath.Join(pg.dir, "server.log"), "-o", opts); err != nil {
		pg.t.Fatal(err)
	}
}

// stop shuts the server down the way an operator restarting it would
// (fast: sessions are ended, connections drop).
func (pg *privatePostgres) stop() {
	pg.t.Helper()
	if err := pg.pgctl("stop", "-w", "-m", "fast"); err != nil {
		pg.t.Fatal(err)
	}
}
