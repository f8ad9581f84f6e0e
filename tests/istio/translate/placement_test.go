package translate

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/envoy-wasm-sdk/envoy-wasm-sdk/tests/istio/internal/harness"
)

// Plugin configurations (examples/http_headers/README.md, examples/tcp_guard/deploy/config.json).
const (
	configA = `{"response": {"set": [{"name": "x-plugin", "value": "A"}]}}`
	configB = `{"response": {"set": [{"name": "x-plugin", "value": "B"}]}}`
)

// images is what the tests push to their registry.
type images struct {
	registry string
	http     harness.Image // examples/http_headers, compat
	tcp      harness.Image // examples/tcp_guard, compat
}

// pushExamples starts a registry and packages and pushes both examples (compat format, the
// default) with the CLI.
func pushExamples(t *testing.T) images {
	t.Helper()
	reg := harness.StartRegistry(t)
	httpWasm, _ := harness.Module(t, "http_headers")
	tcpWasm, _ := harness.Module(t, "tcp_guard")
	return images{
		registry: reg,
		http:     harness.Package(t, "http_headers", httpWasm, reg+"/http-headers", "compat", "compat"),
		tcp:      harness.Package(t, "tcp_guard", tcpWasm, reg+"/tcp-guard", "compat", "compat"),
	}
}

// configFile writes a plugin configuration for --config.
func configFile(t *testing.T, json string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "config.json")
	if err := os.WriteFile(p, []byte(json), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// plugin is one `manifests` run and where its filter must land.
type plugin struct {
	crate     string // http_headers or tcp_guard
	name      string // the resources' metadata.name (the CLI's, from the crate)
	namespace string
	config    string
	flags     []string // placement flags
	// want says whether a chain must carry the filter; every other chain must not.
	want func(c chain) bool
	// must names a chain that must be among the wanted ones (the assertion is not vacuous);
	// nil when the filter must land nowhere.
	must func(c chain) bool
	// spec is what the CLI must have written at spec level (JSON of each key).
	spec map[string]string
}

type placementCase struct {
	name    string
	flags   string // for the logs
	plugins []plugin
	// check makes further assertions on the chains (filter order).
	check func(t *testing.T, kind string, chains []chain)
}

func isHTTPHeadersImage(p plugin) bool { return p.crate == "http_headers" }

func placementCases() []placementCase {
	inbound8000 := func(c chain) bool {
		return c.proxy == "httpbin" && c.class == "inbound" && c.port == 8000 && c.hasHTTP()
	}
	return []placementCase{
		{
			// a. Defaults with a selector: the selected sidecars' inbound HTTP chains
			// (match: [{mode: SERVER}]), every port; not their outbound listeners, not other
			// workloads, not gateways.
			name: "a_selector", flags: "--selector app=httpbin",
			plugins: []plugin{{
				crate: "http_headers", name: "http-headers", namespace: "default", config: configA,
				flags: []string{"--selector", "app=httpbin"},
				want: func(c chain) bool {
					return c.proxy == "httpbin" && c.class == "inbound" && c.hasHTTP()
				},
				must: inbound8000,
				spec: map[string]string{
					"selector": `{"matchLabels":{"app":"httpbin"}}`,
					"match":    `[{"mode":"SERVER"}]`,
				},
			}},
		},
		{
			// b. A Gateway API gateway by targetRef: every HTTP chain of that gateway's pods,
			// nothing on sidecars or on the Istio ingress gateway (no match: a gateway's
			// listeners are CLIENT to Istio, model/extensions.go workloadModeForListenerClass).
			name: "b_target-ref", flags: "--target-ref Gateway/ingress",
			plugins: []plugin{{
				crate: "http_headers", name: "http-headers", namespace: "default", config: configA,
				flags: []string{"--target-ref", "Gateway/ingress"},
				want:  func(c chain) bool { return c.proxy == "ingress" && c.hasHTTP() },
				must:  func(c chain) bool { return c.proxy == "ingress" && c.port == 80 && c.hasHTTP() },
				spec: map[string]string{
					"targetRefs": `[{"group":"gateway.networking.k8s.io","kind":"Gateway","name":"ingress"}]`,
					"match":      `null`,
				},
			}},
		},
		{
			// c. Both directions, one port, AUTHZ with a priority, beside a second plugin of
			// the same image in AUTHN (a mesh-wide one: the root namespace istio-system, same
			// selector): both on httpbin's inbound and outbound port-8000 chains only, AUTHN's
			// first.
			name: "c_port_phase", flags: "--selector app=httpbin --mode client-and-server --port 8000 --phase authz --priority 10; and -n istio-system, same but --phase authn",
			plugins: []plugin{
				{
					crate: "http_headers", name: "http-headers", namespace: "default", config: configA,
					flags: []string{"--selector", "app=httpbin", "--mode", "client-and-server",
						"--port", "8000", "--phase", "authz", "--priority", "10"},
					want: func(c chain) bool {
						return c.proxy == "httpbin" && c.port == 8000 && c.hasHTTP() &&
							(c.class == "inbound" || c.class == "outbound")
					},
					must: inbound8000,
					spec: map[string]string{
						"match":    `[{"mode":"CLIENT_AND_SERVER","ports":[{"number":8000}]}]`,
						"phase":    `"AUTHZ"`,
						"priority": `10`,
					},
				},
				{
					crate: "http_headers", name: "http-headers", namespace: "istio-system", config: configB,
					flags: []string{"--selector", "app=httpbin", "--mode", "client-and-server",
						"--port", "8000", "--phase", "authn"},
					want: func(c chain) bool {
						return c.proxy == "httpbin" && c.port == 8000 && c.hasHTTP() &&
							(c.class == "inbound" || c.class == "outbound")
					},
					must: func(c chain) bool {
						return c.proxy == "httpbin" && c.class == "outbound" && c.port == 8000 && c.hasHTTP()
					},
					spec: map[string]string{"phase": `"AUTHN"`},
				},
			},
			check: func(t *testing.T, kind string, chains []chain) {
				authz := ecdsName(kind, "default", "http-headers")
				authn := ecdsName(kind, "istio-system", "http-headers")
				for _, c := range chains {
					n, z := index(c.http, authn), index(c.http, authz)
					if n < 0 || z < 0 {
						continue
					}
					if n > z {
						t.Errorf("%s: the AUTHZ plugin runs before the AUTHN one: %s", c, shortAll(c.http))
					}
					if r := index(c.http, "envoy.filters.http.router"); r >= 0 && z > r {
						t.Errorf("%s: the plugin comes after the router: %s", c, shortAll(c.http))
					}
				}
			},
		},
		{
			// d. A network plugin (type NETWORK) on port 9000: a network filter on httpbin's
			// inbound 9000 chain, before tcp_proxy; never in front of an HTTP connection
			// manager (Istio would put it there: buildInboundNetworkFiltersForHTTP), so not
			// on 8000 or 8080; not outbound, not other workloads.
			name: "d_network", flags: "tcp_guard --selector app=httpbin --port 9000",
			plugins: []plugin{{
				crate: "tcp_guard", name: "tcp-guard", namespace: "default",
				config: readTCPGuardConfig(),
				flags:  []string{"--selector", "app=httpbin", "--port", "9000"},
				want: func(c chain) bool {
					return c.proxy == "httpbin" && c.class == "inbound" && c.port == 9000 && !c.hasHTTP()
				},
				must: func(c chain) bool {
					return c.proxy == "httpbin" && c.class == "inbound" && c.port == 9000
				},
				spec: map[string]string{"match": `[{"mode":"SERVER","ports":[{"number":9000}]}]`},
			}},
			check: func(t *testing.T, kind string, chains []chain) {
				name := ecdsName(kind, "default", "tcp-guard")
				for _, c := range chains {
					i := index(c.network, name)
					if i < 0 {
						continue
					}
					if c.hasHTTP() {
						t.Errorf("%s: the network plugin is in front of an HTTP connection manager: %s", c, shortAll(c.network))
					}
					if p := index(c.network, "envoy.filters.network.tcp_proxy"); p < 0 || i > p {
						t.Errorf("%s: the network plugin is not before tcp_proxy: %s", c, shortAll(c.network))
					}
				}
			},
		},
		{
			// e. The pitfall (b)'s default avoids: a gateway's listeners are CLIENT to Istio
			// (model/extensions.go workloadModeForListenerClass), so `--mode server` with a
			// targetRef puts the filter nowhere.
			name: "e_target-ref_server", flags: "--target-ref Gateway/ingress --mode server",
			plugins: []plugin{{
				crate: "http_headers", name: "http-headers", namespace: "default", config: configA,
				flags: []string{"--target-ref", "Gateway/ingress", "--mode", "server"},
				want:  func(c chain) bool { return false },
				spec:  map[string]string{"match": `[{"mode":"SERVER"}]`},
			}},
		},
	}
}

// readTCPGuardConfig is examples/tcp_guard/deploy/config.json (cwd is tests/istio/translate).
func readTCPGuardConfig() string {
	b, err := os.ReadFile(filepath.Join("..", "..", "..", "examples", "tcp_guard", "deploy", "config.json"))
	if err != nil {
		return `{"deny": [{"name": "plaintext_http", "prefixes": ["GET "]}]}`
	}
	return string(b)
}

// TestPlacement: for each flag combination, the CLI's WasmPlugin, then its TrafficExtension,
// in istiod's own translation: the filter is exactly on the chains the flags say, and the
// TrafficExtension lands exactly where the WasmPlugin does.
func TestPlacement(t *testing.T) {
	imgs := pushExamples(t)
	for _, tc := range placementCases() {
		t.Run(tc.name, func(t *testing.T) {
			// One `manifests` run per plugin; both kinds come from it.
			docs := map[string][]string{}
			for _, p := range tc.plugins {
				img := imgs.http
				if !isHTTPHeadersImage(p) {
					img = imgs.tcp
				}
				args := append([]string{"--image", img.TagURL(), "-n", p.namespace,
					"--config", configFile(t, p.config)}, p.flags...)
				m := harness.RunManifests(t, p.crate, args...)
				docs["WasmPlugin"] = append(docs["WasmPlugin"], m.WasmPlugin)
				docs["TrafficExtension"] = append(docs["TrafficExtension"], m.TrafficExtension)
				checkSpec(t, p, img, harness.ParseResource(t, m.WasmPlugin), harness.ParseResource(t, m.TrafficExtension))
			}
			sites := map[string]string{}
			for _, kind := range []string{"WasmPlugin", "TrafficExtension"} {
				t.Run(kind, func(t *testing.T) {
					m := newMesh(t, docs[kind]...)
					chains := m.chains(t)
					var names []string
					var summary []string
					for _, p := range tc.plugins {
						name := ecdsName(kind, p.namespace, p.name)
						names = append(names, name)
						summary = append(summary, checkPlacement(t, p, name, chains)...)
					}
					if tc.check != nil {
						tc.check(t, kind, chains)
					}
					sites[kind] = strings.Join(summary, "\n")
					if kind == "WasmPlugin" {
						t.Logf("%s (%s), %s: where istiod puts the filter\n%s", tc.name, tc.flags, kind, table(chains, names...))
					} else if sites[kind] != sites["WasmPlugin"] {
						t.Errorf("the TrafficExtension lands elsewhere than the WasmPlugin:\nTrafficExtension:\n%s\nWasmPlugin:\n%s\n%s",
							sites[kind], sites["WasmPlugin"], table(chains, names...))
					} else {
						t.Logf("%s, %s: the same %d chains as the WasmPlugin", tc.name, kind, len(summary))
					}
				})
			}
		})
	}
}

// checkPlacement compares the chains carrying name with p.want and returns them, with the
// filter's position, for comparison between kinds.
func checkPlacement(t *testing.T, p plugin, name string, chains []chain) []string {
	t.Helper()
	var sites []string
	found := false
	for _, c := range chains {
		inHTTP, inNetwork := contains(c.http, name), contains(c.network, name)
		has := inHTTP || inNetwork
		if has {
			where := "http"
			pos := index(c.http, name)
			if inNetwork {
				where, pos = "network", index(c.network, name)
			}
			sites = append(sites, fmt.Sprintf("%s %s %s %d %s #%d", c.proxy, c.class, c.listener, c.port, where, pos))
		}
		if p.crate == "tcp_guard" && inHTTP {
			t.Errorf("%s: network plugin %s among the HTTP filters", c, name)
		}
		if p.crate == "http_headers" && inNetwork {
			t.Errorf("%s: HTTP plugin %s among the network filters", c, name)
		}
		want := p.want(c)
		switch {
		case has && !want:
			t.Errorf("%s: has %s, should not: %s | %s", c, short(name), shortAll(c.network), shortAll(c.http))
		case !has && want:
			t.Errorf("%s: lacks %s: %s | %s", c, short(name), shortAll(c.network), shortAll(c.http))
		}
		if p.must != nil && p.must(c) {
			found = true
		}
	}
	if p.must != nil && !found {
		t.Errorf("no chain such as the plugin %s must land on: the mesh is not as the test expects", name)
	}
	return sites
}

// checkSpec: the CLI's placement fields, at spec level in both kinds (the wasm bits under
// spec.wasm in a TrafficExtension), metadata.namespace, and the sha256 of the pushed image.
func checkSpec(t *testing.T, p plugin, img harness.Image, wp, te harness.Resource) {
	t.Helper()
	for _, r := range []harness.Resource{wp, te} {
		if r.Metadata.Namespace != p.namespace || r.Metadata.Name != p.name {
			t.Errorf("%s is %s/%s, want %s/%s", r.Kind, r.Metadata.Namespace, r.Metadata.Name, p.namespace, p.name)
		}
		for key, want := range p.spec {
			got, _ := json.Marshal(r.Spec[key])
			if string(got) != want {
				t.Errorf("%s spec.%s = %s, want %s", r.Kind, key, got, want)
			}
		}
	}
	if wp.Str("sha256") != img.DigestHex || te.Str("wasm", "sha256") != img.DigestHex {
		t.Errorf("sha256: WasmPlugin %q, TrafficExtension wasm %q; pushed %s",
			wp.Str("sha256"), te.Str("wasm", "sha256"), img.DigestHex)
	}
	if wp.Str("url") != img.TagURL() || te.Str("wasm", "url") != img.TagURL() {
		t.Errorf("url: WasmPlugin %q, TrafficExtension wasm %q; want %s", wp.Str("url"), te.Str("wasm", "url"), img.TagURL())
	}
}
