package ringkernel_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"ringkernel"
)

// daemon is a ringkerneld process (CPU backend) on a private socket.
type daemon struct {
	cmd    *exec.Cmd
	dir    string
	socket string
	log    lockedBuffer
	exited chan struct{}
}

type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// daemonPath finds ringkerneld: $RINGKERNELD, else
// $RINGKERNEL_BUILD_DIR/bin, else PATH, else the project's build tree.
func daemonPath() (string, error) {
	if p := os.Getenv("RINGKERNELD"); p != "" {
		return p, nil
	}
	if dir := os.Getenv("RINGKERNEL_BUILD_DIR"); dir != "" {
		return filepath.Join(dir, "bin", "ringkerneld"), nil
	}
	if p, err := exec.LookPath("ringkerneld"); err == nil {
		return p, nil
	}
	p, err := filepath.Abs(filepath.Join("..", "..", "build", "bin", "ringkerneld"))
	if err != nil {
		return "", err
	}
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("no ringkerneld: set RINGKERNELD or RINGKERNEL_BUILD_DIR (%v)", err)
	}
	return p, nil
}

// startDaemon starts ringkerneld and waits until it accepts a session.
func startDaemon() (*daemon, error) {
	bin, err := daemonPath()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "rkgo-")
	if err != nil {
		return nil, err
	}
	d := &daemon{dir: dir, socket: filepath.Join(dir, "rk.sock"), exited: make(chan struct{})}
	d.cmd = exec.Command(bin, "--socket", d.socket, "--backend", "cpu", "--log-level", "warn")
	d.cmd.Stdout, d.cmd.Stderr = &d.log, &d.log
	if err := d.cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	go func() { d.cmd.Wait(); close(d.exited) }()
	for start := time.Now(); ; time.Sleep(20 * time.Millisecond) {
		select {
		case <-d.exited:
			os.RemoveAll(dir)
			return nil, fmt.Errorf("%s exited at start: %s\n%s", bin, d.cmd.ProcessState, d.log.String())
		default:
		}
		c, err := ringkernel.Connect(d.socket)
		if err == nil {
			c.Close()
			return d, nil
		}
		if time.Since(start) > 10*time.Second {
			d.kill()
			return nil, fmt.Errorf("%s did not accept a session within 10 s: %v\n%s", bin, err, d.log.String())
		}
	}
}

// stop ends the daemon with SIGTERM (SIGKILL after 5 s) and removes its
// directory.
func (d *daemon) stop() {
	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.exited:
	case <-time.After(5 * time.Second):
		d.cmd.Process.Kill()
		<-d.exited
	}
	os.RemoveAll(d.dir)
}

// kill ends the daemon with SIGKILL, as a crash would.
func (d *daemon) kill() {
	d.cmd.Process.Kill()
	<-d.exited
	os.RemoveAll(d.dir)
}

// server is the daemon shared by the tests and examples of this package.
var server *daemon

func TestMain(m *testing.M) {
	d, err := startDaemon()
	if err != nil {
		fmt.Fprintln(os.Stderr, "ringkernel tests:", err)
		os.Exit(1)
	}
	server = d
	// Connect("") in the examples finds the test server this way.
	os.Setenv("RINGKERNEL_SOCKET", d.socket)
	code := m.Run()
	select {
	case <-d.exited:
		fmt.Fprintf(os.Stderr, "ringkerneld died during the tests: %s\n%s", d.cmd.ProcessState, d.log.String())
		code = 1
	default:
		d.stop()
	}
	if code != 0 && d.log.String() != "" {
		fmt.Fprintf(os.Stderr, "ringkerneld log:\n%s", d.log.String())
	}
	os.Exit(code)
}

// wantErr fails t unless errors.Is(err, target).
func wantErr(t *testing.T, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("got error %v, want one matching %v", err, target)
	}
}
