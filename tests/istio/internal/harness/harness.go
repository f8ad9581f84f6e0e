// Package harness holds what the Istio tests share: the repository's CLI, the modules it
// packages, a real OCI registry on loopback, and a real Envoy.
//
// Environment (all optional):
//
//	ENVOY_WASM_CLI         path of a built cargo-envoy-wasm binary; default: this checkout's,
//	                       built once per test binary (`cargo build -q -p cargo-envoy-wasm`)
//	                       and copied to a scratch folder.
//	ENVOY_WASM_MODULE      a built http_headers module to package (kept for compatibility;
//	                       ENVOY_WASM_MODULE_DIR covers it).
//	ENVOY_WASM_MODULE_DIR  a folder holding CRATE.wasm for every example the tests package
//	                       (http_headers.wasm, tcp_guard.wasm), e.g.
//	                       target/wasm32-wasip1/release; default: `cargo envoy-wasm build -p
//	                       CRATE` (release wasm32-wasip1, wasm-opt when present).
//	REGISTRY_BIN           the CNCF distribution registry binary; default: docker-registry
//	                       (Debian) or registry on PATH. If neither is found,
//	                       go-containerregistry's in-process pkg/registry serves instead (logged).
//	ENVOY_BIN              the Envoy binary; default: the one the repository's .venv holds
//	                       (.venv/lib/python3*/site-packages/envoy/_bin/envoy), else envoy on PATH.
package harness

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/registry"
	"sigs.k8s.io/yaml"
)

var (
	rootOnce sync.Once
	root     string
	rootErr  error
)

// RepoRoot is the Cargo workspace: the first folder above the working directory that
// holds sdk/cli/Cargo.toml (tests run in tests/istio or one of its packages).
func RepoRoot(t testing.TB) string {
	t.Helper()
	rootOnce.Do(func() {
		dir, err := os.Getwd()
		if err != nil {
			rootErr = err
			return
		}
		for d := dir; ; d = filepath.Dir(d) {
			if _, err := os.Stat(filepath.Join(d, "sdk", "cli", "Cargo.toml")); err == nil {
				root = d
				return
			}
			if filepath.Dir(d) == d {
				break
			}
		}
		rootErr = fmt.Errorf("no envoy-wasm-sdk checkout above %s", dir)
	})
	if rootErr != nil {
		t.Fatal(rootErr)
	}
	return root
}

// CLI runs `cargo envoy-wasm ARGS` and returns its stdout; a failure ends the test with
// everything the CLI said.
func CLI(t testing.TB, args ...string) string {
	t.Helper()
	out, err := RunCLI(RepoRoot(t), args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

var (
	cliOnce sync.Once
	cliBin  string
	cliErr  error
)

// cliBinary is $ENVOY_WASM_CLI, else the CLI of this checkout, built once per test binary
// (`cargo build -q -p cargo-envoy-wasm`) and copied out of target/ so a concurrent cargo
// build cannot change it under the tests.
func cliBinary(root string) (string, error) {
	if bin := os.Getenv("ENVOY_WASM_CLI"); bin != "" {
		return bin, nil
	}
	cliOnce.Do(func() {
		cmd := exec.Command("cargo", "build", "-q", "--manifest-path", filepath.Join(root, "Cargo.toml"),
			"-p", "cargo-envoy-wasm", "--message-format", "json-render-diagnostics")
		cmd.Dir = root
		var stdout, stderr bytes.Buffer
		cmd.Stdout = &stdout
		cmd.Stderr = &stderr
		if err := cmd.Run(); err != nil {
			cliErr = fmt.Errorf("cargo build -p cargo-envoy-wasm: %v\n%s", err, stderr.String())
			return
		}
		// The compiler-artifact message of the binary names its executable.
		var built string
		for _, line := range strings.Split(stdout.String(), "\n") {
			var msg struct {
				Reason     string `json:"reason"`
				Executable string `json:"executable"`
				Target     struct {
					Name string `json:"name"`
				} `json:"target"`
			}
			if json.Unmarshal([]byte(line), &msg) == nil && msg.Reason == "compiler-artifact" &&
				msg.Target.Name == "cargo-envoy-wasm" && msg.Executable != "" {
				built = msg.Executable
			}
		}
		if built == "" {
			cliErr = fmt.Errorf("cargo build -p cargo-envoy-wasm named no executable")
			return
		}
		b, err := os.ReadFile(built)
		if err != nil {
			cliErr = err
			return
		}
		dir, err := scratchDir()
		if err != nil {
			cliErr = err
			return
		}
		cliBin = filepath.Join(dir, "cargo-envoy-wasm")
		cliErr = os.WriteFile(cliBin, b, 0o755)
	})
	return cliBin, cliErr
}

// RunCLI runs `cargo envoy-wasm ARGS` from root.
func RunCLI(root string, args ...string) (string, error) {
	bin, err := cliBinary(root)
	if err != nil {
		return "", err
	}
	// Cargo calls the binary as `cargo-envoy-wasm envoy-wasm ARGS`.
	argv := append([]string{bin, "envoy-wasm"}, args...)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = root
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%s: %v\nstdout:\n%s\nstderr:\n%s",
			strings.Join(argv, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String(), nil
}

// Select is how every CLI call names crate (an example of the workspace).
func Select(t testing.TB, crate string) []string {
	return []string{"-p", crate, "--manifest-path", filepath.Join(RepoRoot(t), "Cargo.toml")}
}

// buildLine is the last line `build` prints: `PATH N bytes[ (wasm-opt -O3)]`
// (sdk/cli/src/commands.rs, build).
var buildLine = regexp.MustCompile(`^(.+) [0-9]+ bytes`)

var (
	scratchOnce sync.Once
	scratch     string
	scratchErr  error

	modulesMu sync.Mutex
	modules   = map[string]*moduleResult{}
)

type moduleResult struct {
	once  sync.Once
	path  string
	bytes []byte
	err   error
}

// Main runs a test package's tests and removes the scratch folder afterwards: call it
// from TestMain as `os.Exit(harness.Main(m))`.
func Main(m *testing.M) int {
	code := m.Run()
	if scratch != "" {
		os.RemoveAll(scratch)
	}
	return code
}

func scratchDir() (string, error) {
	scratchOnce.Do(func() {
		scratch, scratchErr = os.MkdirTemp("", "istio-wasm-")
	})
	return scratch, scratchErr
}

// Module is crate's Wasm module (an example: http_headers, tcp_guard), built once per test
// binary and copied out of target/ so a concurrent cargo build cannot change it under the
// test.
func Module(t testing.TB, crate string) (string, []byte) {
	t.Helper()
	modulesMu.Lock()
	r, ok := modules[crate]
	if !ok {
		r = &moduleResult{}
		modules[crate] = r
	}
	modulesMu.Unlock()
	rootDir := RepoRoot(t)
	r.once.Do(func() {
		// No t.Fatal in here: it would leave the Once done with nothing set.
		var source string
		switch {
		case os.Getenv("ENVOY_WASM_MODULE_DIR") != "":
			source = filepath.Join(os.Getenv("ENVOY_WASM_MODULE_DIR"), crate+".wasm")
		case crate == "http_headers" && os.Getenv("ENVOY_WASM_MODULE") != "":
			source = os.Getenv("ENVOY_WASM_MODULE")
		default:
			args := []string{"build", "-p", crate, "--manifest-path", filepath.Join(rootDir, "Cargo.toml")}
			out, err := RunCLI(rootDir, args...)
			if err != nil {
				r.err = err
				return
			}
			out = strings.TrimSpace(out)
			lines := strings.Split(out, "\n")
			m := buildLine.FindStringSubmatch(lines[len(lines)-1])
			if m == nil {
				r.err = fmt.Errorf("unexpected `build` output %q", out)
				return
			}
			source = m[1]
		}
		b, err := os.ReadFile(source)
		if err != nil {
			r.err = err
			return
		}
		dir, err := scratchDir()
		if err != nil {
			r.err = err
			return
		}
		r.path = filepath.Join(dir, crate+".wasm")
		r.bytes = b
		r.err = os.WriteFile(r.path, b, 0o644)
	})
	if r.err != nil {
		t.Fatalf("the %s module: %v", crate, r.err)
	}
	return r.path, r.bytes
}

// StartRegistry starts a registry on a free loopback port for the test; it is stopped
// when the test ends. Mirrors tests/src/registry.rs. Returns HOST:PORT.
func StartRegistry(t testing.TB) string {
	t.Helper()
	bin := os.Getenv("REGISTRY_BIN")
	if bin == "" {
		for _, name := range []string{"docker-registry", "registry"} {
			if p, err := exec.LookPath(name); err == nil {
				bin = p
				break
			}
		}
	}
	if bin == "" {
		t.Log("no docker-registry/registry binary: serving go-containerregistry's pkg/registry in-process")
		srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
		t.Cleanup(srv.Close)
		return strings.TrimPrefix(srv.URL, "http://")
	}

	dir := t.TempDir()
	addr := "127.0.0.1:" + FreePort(t)
	config := fmt.Sprintf("version: 0.1\n"+
		"log: { level: warn, accesslog: { disabled: true } }\n"+
		"storage:\n  filesystem: { rootdirectory: %s }\n"+
		"http: { addr: %q, secret: envoy-wasm-tests }\n", filepath.Join(dir, "storage"), addr)
	configPath := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(configPath, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "serve", configPath)
	logFile := startLogged(t, cmd, filepath.Join(dir, "registry.log"))
	readLog := func() string {
		b, _ := os.ReadFile(logFile.Name())
		return string(b)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		logFile.Close()
		if l := readLog(); t.Failed() && l != "" {
			t.Logf("registry log:\n%s", l)
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get("http://" + addr + "/v2/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return addr
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("the registry did not start:\n%s", readLog())
	return ""
}

// startLogged starts cmd with its stdout and stderr in a new file at logPath, which it
// returns (for the caller to close once cmd has ended). cmd dies with the test binary even
// if the test is killed; the test fails if cmd cannot start.
func startLogged(t testing.TB, cmd *exec.Cmd, logPath string) *os.File {
	t.Helper()
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("cannot start %s: %v", cmd.Path, err)
	}
	return logFile
}

// FreePort is a TCP port free on 127.0.0.1 a moment ago.
func FreePort(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return fmt.Sprint(l.Addr().(*net.TCPAddr).Port)
}

// LineWithPrefix finds the first output line starting with prefix.
func LineWithPrefix(out, prefix string) (string, bool) {
	s := bufio.NewScanner(strings.NewReader(out))
	for s.Scan() {
		if line := s.Text(); strings.HasPrefix(line, prefix) {
			return line, true
		}
	}
	return "", false
}

// Image is one image `package --push` pushed.
type Image struct {
	Repository string // 127.0.0.1:PORT/http-headers
	Tag        string
	DigestHex  string // the manifest digest of the `pushed …@sha256:HEX` line
	Record     Record // image.json, beside the layout
}

// Record is what `package` writes beside the image layout (image.json;
// sdk/cli/src/commands.rs, ImageRecord).
type Record struct {
	Tag    string   `json:"tag"`
	Digest string   `json:"digest"`
	Format string   `json:"format"`
	Pushed []string `json:"pushed"`
	Path   string   `json:"-"`
}

// TagURL is `oci://REPOSITORY:TAG`.
func (i Image) TagURL() string { return "oci://" + i.Repository + ":" + i.Tag }

// DigestURL is `oci://REPOSITORY@sha256:HEX`.
func (i Image) DigestURL() string { return "oci://" + i.Repository + "@sha256:" + i.DigestHex }

// Ref is `REPOSITORY:TAG`, as go-containerregistry and ImageFetcher take it.
func (i Image) Ref() string { return i.Repository + ":" + i.Tag }

// Package runs `cargo envoy-wasm package -p CRATE --wasm MODULE --tag NAME:TAG --format
// FORMAT --out DIR/oci --push REPOSITORY:TAG` and reads what it printed and recorded.
func Package(t testing.TB, crate, wasmPath, repository, tag, format string) Image {
	t.Helper()
	img := Image{Repository: repository, Tag: tag}
	dir := t.TempDir()
	name := repository[strings.LastIndex(repository, "/")+1:]
	args := append([]string{"package"}, Select(t, crate)...)
	args = append(args, "--wasm", wasmPath, "--tag", name+":"+tag, "--format", format,
		"--out", filepath.Join(dir, "oci"), "--push", repository+":"+tag)
	out := CLI(t, args...)
	// `pushed REGISTRY/REPO:TAG@sha256:HEX` (sdk/cli/src/commands.rs, package).
	line, ok := LineWithPrefix(out, "pushed ")
	if !ok {
		t.Fatalf("no `pushed` line in:\n%s", out)
	}
	_, digest, ok := strings.Cut(line, "@sha256:")
	if !ok {
		t.Fatalf("no digest in %q", line)
	}
	img.DigestHex = strings.TrimSpace(digest)
	img.Record.Path = filepath.Join(dir, "image.json")
	raw, err := os.ReadFile(img.Record.Path)
	if err != nil {
		t.Fatalf("package wrote no image.json beside the layout: %v", err)
	}
	if err := json.Unmarshal(raw, &img.Record); err != nil {
		t.Fatalf("image.json: %v\n%s", err, raw)
	}
	t.Logf("pushed %s (%s): manifest sha256:%s", img.TagURL(), format, img.DigestHex)
	return img
}

// Manifests is what one `cargo envoy-wasm manifests` call wrote.
type Manifests struct {
	Dir              string
	WasmPlugin       string // wasmplugin.yaml
	TrafficExtension string // trafficextension.yaml
	EnvoyFilter      string // envoyfilter.yaml
	Envoy            string // envoy.yaml
}

// RunManifests runs `cargo envoy-wasm manifests -p CRATE --wasm MODULE ARGS --out TMP`
// (MODULE: Module(t, crate), so nothing is rebuilt) and reads the four files.
func RunManifests(t testing.TB, crate string, args ...string) Manifests {
	t.Helper()
	m := Manifests{Dir: t.TempDir()}
	wasmPath, _ := Module(t, crate)
	argv := append([]string{"manifests"}, Select(t, crate)...)
	argv = append(argv, "--wasm", wasmPath)
	argv = append(argv, args...)
	argv = append(argv, "--out", m.Dir)
	CLI(t, argv...)
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join(m.Dir, name))
		if err != nil {
			t.Fatalf("manifests %s: %v", strings.Join(args, " "), err)
		}
		return string(b)
	}
	m.WasmPlugin = read("wasmplugin.yaml")
	m.TrafficExtension = read("trafficextension.yaml")
	m.EnvoyFilter = read("envoyfilter.yaml")
	m.Envoy = read("envoy.yaml")
	return m
}

// Resource is the part of a WasmPlugin or TrafficExtension the tests read.
type Resource struct {
	Kind     string `json:"kind"`
	Metadata struct {
		Name      string `json:"name"`
		Namespace string `json:"namespace"`
	} `json:"metadata"`
	Spec map[string]any `json:"spec"`
}

// ParseResource reads a one-document YAML resource.
func ParseResource(t testing.TB, doc string) Resource {
	t.Helper()
	var r Resource
	if err := yaml.Unmarshal([]byte(doc), &r); err != nil {
		t.Fatalf("%v\n%s", err, doc)
	}
	return r
}

// Str is spec[path...] as a string ("" when absent).
func (r Resource) Str(path ...string) string {
	var v any = r.Spec
	for _, p := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return ""
		}
		v = m[p]
	}
	s, _ := v.(string)
	return s
}
