package harness

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// EnvoyReadyTimeout bounds Envoy's start: loading a Wasm module (V8 compiling it) on a
// loaded 2-core machine can take seconds.
const EnvoyReadyTimeout = 60 * time.Second

// EnvoyBin is $ENVOY_BIN, else the Envoy of the repository's .venv (pip's envoy package),
// else envoy on PATH; the test is skipped when there is none.
func EnvoyBin(t testing.TB) string {
	t.Helper()
	if bin := os.Getenv("ENVOY_BIN"); bin != "" {
		return bin
	}
	matches, _ := filepath.Glob(filepath.Join(RepoRoot(t), ".venv", "lib", "python3*", "site-packages",
		"envoy", "_bin", "envoy"))
	if len(matches) > 0 {
		return matches[len(matches)-1]
	}
	if p, err := exec.LookPath("envoy"); err == nil {
		return p
	}
	t.Skip("no Envoy: set ENVOY_BIN, or run scripts/setup.sh for .venv's")
	return ""
}

// Envoy is a running Envoy.
type Envoy struct {
	Admin string // HOST:PORT of the admin interface
	cmd   *exec.Cmd
	dir   string
	done  chan struct{}
}

// StartEnvoy runs Envoy on bootstrap (YAML) with --disable-hot-restart, one worker, the
// admin address written to a file (the bootstrap should give admin and listeners port 0:
// the kernel picks free ones), and waits until /ready says LIVE and every listener is
// bound. Envoy is stopped (SIGTERM, then SIGKILL after 10 s) when the test ends; its log
// is printed if the test failed.
func StartEnvoy(t testing.TB, bootstrap string) *Envoy {
	t.Helper()
	bin := EnvoyBin(t)
	dir := t.TempDir()
	config := filepath.Join(dir, "envoy.yaml")
	if err := os.WriteFile(config, []byte(bootstrap), 0o644); err != nil {
		t.Fatal(err)
	}
	adminPath := filepath.Join(dir, "admin.address")
	cmd := exec.Command(bin, "-c", config, "--disable-hot-restart", "-l", "info",
		"--concurrency", "1", "--admin-address-path", adminPath)
	cmd.Dir = dir
	logFile := startLogged(t, cmd, filepath.Join(dir, "envoy.log"))
	e := &Envoy{cmd: cmd, dir: dir, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(e.done)
	}()
	t.Cleanup(func() {
		// SIGTERM first: Envoy then flushes its log (stderr to a file is block-buffered,
		// and SIGKILL would lose the end of it).
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-e.done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-e.done
		}
		logFile.Close()
		if t.Failed() {
			t.Logf("---- Envoy log ----\n%s---- end of Envoy log ----", e.Log())
		}
	})

	deadline := time.Now().Add(EnvoyReadyTimeout)
	for time.Now().Before(deadline) {
		select {
		case <-e.done:
			t.Fatalf("Envoy exited (%v) before it was ready (its log follows)", cmd.ProcessState)
		default:
		}
		if e.Admin == "" {
			if b, err := os.ReadFile(adminPath); err == nil && strings.TrimSpace(string(b)) != "" {
				e.Admin = strings.TrimSpace(string(b))
			}
		}
		if e.Admin != "" {
			if ready, _ := e.AdminGet("/ready"); strings.Contains(ready, "LIVE") {
				if ports, err := e.ListenerPorts(); err == nil && len(ports) > 0 && allBound(ports) {
					return e
				}
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("Envoy was not ready within %v (its log follows)", EnvoyReadyTimeout)
	return nil
}

func allBound(ports map[string]int) bool {
	for _, p := range ports {
		if p == 0 {
			return false
		}
	}
	return true
}

// extensionList is a line of the list of statically linked extensions Envoy logs at
// start (dozens of lines): left out of Log.
var extensionList = regexp.MustCompile(`^\[[^]]*\]\[\d+\]\[info\]\[main\] \[[^]]*\]   \S`)

// Log is everything Envoy wrote so far, but the list of its extensions.
func (e *Envoy) Log() string {
	b, _ := os.ReadFile(filepath.Join(e.dir, "envoy.log"))
	var out strings.Builder
	for _, line := range strings.SplitAfter(string(b), "\n") {
		if !extensionList.MatchString(line) {
			out.WriteString(line)
		}
	}
	return out.String()
}

// AdminGet fetches path from the admin interface.
func (e *Envoy) AdminGet(path string) (string, error) {
	client := http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get("http://" + e.Admin + path)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return string(b), fmt.Errorf("%s: %s", path, resp.Status)
	}
	return string(b), nil
}

// ListenerPorts maps each listener's name to the port it is bound to.
func (e *Envoy) ListenerPorts() (map[string]int, error) {
	raw, err := e.AdminGet("/listeners?format=json")
	if err != nil {
		return nil, err
	}
	var listeners struct {
		ListenerStatuses []struct {
			Name         string `json:"name"`
			LocalAddress struct {
				SocketAddress struct {
					PortValue int `json:"port_value"`
				} `json:"socket_address"`
			} `json:"local_address"`
		} `json:"listener_statuses"`
	}
	if err := json.Unmarshal([]byte(raw), &listeners); err != nil {
		return nil, err
	}
	ports := map[string]int{}
	for _, l := range listeners.ListenerStatuses {
		ports[l.Name] = l.LocalAddress.SocketAddress.PortValue
	}
	return ports, nil
}
