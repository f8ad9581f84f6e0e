package translate

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	bootstrap "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	cluster "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpoint "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listener "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	route "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	router "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	httpwasm "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/wasm/v3"
	hcm "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	wasmextensions "github.com/envoyproxy/go-control-plane/envoy/extensions/wasm/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"istio.io/istio/pilot/pkg/model"
	v3 "istio.io/istio/pilot/pkg/xds/v3"
	"istio.io/istio/pkg/config/xds"
	"istio.io/istio/pkg/util/sets"

	"github.com/envoy-wasm-sdk/envoy-wasm-sdk/tests/istio/internal/harness"
)

// ecdsFor asks istiod's ECDS generator (pilot/pkg/xds/ecds.go, EcdsGenerator.Generate,
// which calls extension.InsertedTrafficExtensionConfigurations →
// model.TrafficExtensionWrapper.BuildHTTPWasmFilter) for the named resources, as the
// proxy's Envoy would subscribe to them, and returns them in the order asked.
func (m *mesh) ecdsFor(t *testing.T, proxy string, names ...string) []*anypb.Any {
	t.Helper()
	gen := m.s.Discovery.Generators[v3.ExtensionConfigurationType]
	res, _, err := gen.Generate(m.proxies[proxy], &model.WatchedResource{ResourceNames: sets.New(names...)},
		&model.PushRequest{Push: m.s.PushContext(), Forced: true})
	if err != nil {
		t.Fatalf("ECDS: %v", err)
	}
	byName := map[string]*anypb.Any{}
	for _, r := range res {
		byName[r.Name] = r.Resource
	}
	var out []*anypb.Any
	for _, n := range names {
		r, ok := byName[n]
		if !ok {
			t.Fatalf("istiod generated no ECDS resource %s (got %d resources)", n, len(res))
		}
		out = append(out, r)
	}
	return out
}

// httpFilterOn is the ECDS reference named name on chain c, checked to be what Istio renders
// (extensionfilter.go toEnvoyHTTPTrafficExtension: ADS, Wasm and RBAC type URLs).
func httpFilterOn(t *testing.T, c chain, name string) *hcm.HttpFilter {
	t.Helper()
	for _, f := range c.hcm.GetHttpFilters() {
		if f.GetName() != name {
			continue
		}
		cd := f.GetConfigDiscovery()
		if cd == nil {
			t.Fatalf("%s: %s is not an ECDS reference", c, name)
		}
		if !reflect.DeepEqual(cd.GetTypeUrls(), []string{xds.WasmHTTPFilterType, xds.RBACHTTPFilterType}) {
			t.Errorf("%s: %s type_urls %v", c, name, cd.GetTypeUrls())
		}
		return f
	}
	t.Fatalf("%s: no filter %s among %s", c, name, shortAll(c.http))
	return nil
}

func findChain(t *testing.T, chains []chain, f func(c chain) bool, what string) chain {
	t.Helper()
	for _, c := range chains {
		if f(c) {
			return c
		}
	}
	t.Fatalf("no %s chain", what)
	return chain{}
}

// upstream is a tiny HTTP service that answers 200 and remembers the request headers.
type upstream struct {
	srv  *httptest.Server
	mu   sync.Mutex
	seen []http.Header
}

func startUpstream(t *testing.T) *upstream {
	u := &upstream{}
	u.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.mu.Lock()
		u.seen = append(u.seen, r.Header.Clone())
		u.mu.Unlock()
		w.Header().Set("x-upstream-said", "hello")
		fmt.Fprintln(w, "ok")
	}))
	t.Cleanup(u.srv.Close)
	return u
}

func (u *upstream) port() uint32 { return uint32(u.srv.Listener.Addr().(*net.TCPAddr).Port) }

func (u *upstream) last() http.Header {
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.seen) == 0 {
		return nil
	}
	return u.seen[len(u.seen)-1]
}

func socket(host string, port uint32) *core.Address {
	return &core.Address{Address: &core.Address_SocketAddress{SocketAddress: &core.SocketAddress{
		Address: host, PortSpecifier: &core.SocketAddress_PortValue{PortValue: port},
	}}}
}

func mustAny(t *testing.T, m proto.Message) *anypb.Any {
	t.Helper()
	a, err := anypb.New(m)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// envoyBootstrap is a plain Envoy configuration: admin and one listener on free ports
// (port 0), the converted extension configs as HTTP filters in that order (each under its
// ECDS name, its typed_config as the agent hands it to Envoy), then the router, to
// upstream.
func envoyBootstrap(t *testing.T, filters []*core.TypedExtensionConfig, upstreamPort uint32) string {
	t.Helper()
	var httpFilters []*hcm.HttpFilter
	for _, ec := range filters {
		httpFilters = append(httpFilters, &hcm.HttpFilter{
			Name:       ec.GetName(),
			ConfigType: &hcm.HttpFilter_TypedConfig{TypedConfig: ec.GetTypedConfig()},
		})
	}
	httpFilters = append(httpFilters, &hcm.HttpFilter{
		Name:       "envoy.filters.http.router",
		ConfigType: &hcm.HttpFilter_TypedConfig{TypedConfig: mustAny(t, &router.Router{})},
	})
	manager := &hcm.HttpConnectionManager{
		StatPrefix: "ingress",
		RouteSpecifier: &hcm.HttpConnectionManager_RouteConfig{RouteConfig: &route.RouteConfiguration{
			Name: "local",
			VirtualHosts: []*route.VirtualHost{{
				Name: "all", Domains: []string{"*"},
				Routes: []*route.Route{{
					Match: &route.RouteMatch{PathSpecifier: &route.RouteMatch_Prefix{Prefix: "/"}},
					Action: &route.Route_Route{Route: &route.RouteAction{
						ClusterSpecifier: &route.RouteAction_Cluster{Cluster: "upstream"},
					}},
				}},
			}},
		}},
		HttpFilters: httpFilters,
	}
	b := &bootstrap.Bootstrap{
		Admin: &bootstrap.Admin{Address: socket("127.0.0.1", 0)},
		StaticResources: &bootstrap.Bootstrap_StaticResources{
			Listeners: []*listener.Listener{{
				Name:    "ingress",
				Address: socket("127.0.0.1", 0),
				FilterChains: []*listener.FilterChain{{Filters: []*listener.Filter{{
					Name:       "envoy.filters.network.http_connection_manager",
					ConfigType: &listener.Filter_TypedConfig{TypedConfig: mustAny(t, manager)},
				}}}},
			}},
			Clusters: []*cluster.Cluster{{
				Name:                 "upstream",
				ClusterDiscoveryType: &cluster.Cluster_Type{Type: cluster.Cluster_STATIC},
				ConnectTimeout:       durationpb.New(5 * time.Second),
				LoadAssignment: &endpoint.ClusterLoadAssignment{
					ClusterName: "upstream",
					Endpoints: []*endpoint.LocalityLbEndpoints{{LbEndpoints: []*endpoint.LbEndpoint{{
						HostIdentifier: &endpoint.LbEndpoint_Endpoint{Endpoint: &endpoint.Endpoint{
							Address: socket("127.0.0.1", upstreamPort),
						}},
					}}}},
				},
			}},
		},
	}
	out, err := protojson.MarshalOptions{Multiline: true}.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

// get sends GET / through Envoy's listener.
func get(t *testing.T, e *harness.Envoy) *http.Response {
	t.Helper()
	ports, err := e.ListenerPorts()
	if err != nil {
		t.Fatal(err)
	}
	client := http.Client{Timeout: 10 * time.Second}
	resp, err := client.Get(fmt.Sprintf("http://127.0.0.1:%d/get", ports["ingress"]))
	if err != nil {
		t.Fatalf("GET through Envoy: %v", err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

// sameJSON compares two JSON texts as values.
func sameJSON(a, b string) bool {
	var x, y any
	if json.Unmarshal([]byte(a), &x) != nil || json.Unmarshal([]byte(b), &y) != nil {
		return false
	}
	return reflect.DeepEqual(x, y)
}

func configurationOf(t *testing.T, w *httpwasm.Wasm) string {
	t.Helper()
	s := &wrapperspb.StringValue{}
	if err := w.GetConfig().GetConfiguration().UnmarshalTo(s); err != nil {
		t.Fatalf("configuration is %s: %v", w.GetConfig().GetConfiguration().GetTypeUrl(), err)
	}
	return s.GetValue()
}

// checkIstiodWasm: the ECDS resource as istiod renders it (model/extensions.go
// buildWasmConfig, buildDataSource, buildVMConfig): remote code at the WasmPlugin's url
// with its sha256, root_id the pluginName, the configuration as JSON text, FAIL_CLOSED, no
// vm_id.
func checkIstiodWasm(t *testing.T, w *httpwasm.Wasm, img harness.Image, config string) {
	t.Helper()
	c := w.GetConfig()
	remote := c.GetVmConfig().GetCode().GetRemote()
	if remote.GetHttpUri().GetUri() != img.TagURL() || remote.GetSha256() != img.DigestHex {
		t.Errorf("istiod's code: %s sha256 %q; want %s sha256 %s", remote.GetHttpUri().GetUri(), remote.GetSha256(),
			img.TagURL(), img.DigestHex)
	}
	if c.GetRootId() != "http_headers" {
		t.Errorf("root_id %q, want http_headers", c.GetRootId())
	}
	if c.GetVmConfig().GetVmId() != "" {
		t.Errorf("vm_id %q: Istio renders none", c.GetVmConfig().GetVmId())
	}
	if c.GetFailurePolicy() != wasmextensions.FailurePolicy_FAIL_CLOSED {
		t.Errorf("failure_policy %v, want FAIL_CLOSED (--fail-strategy close, the default)", c.GetFailurePolicy())
	}
	if got := configurationOf(t, w); !sameJSON(got, config) {
		t.Errorf("configuration %s, want %s", got, config)
	}
}

// checkConverted: after the agent, the code is a local file holding the module, and the
// ISTIO_META_* variables are gone.
func checkConverted(t *testing.T, w *httpwasm.Wasm, module []byte) string {
	t.Helper()
	file, got := harness.LocalModule(t, w)
	if string(got) != string(module) {
		t.Errorf("the agent's file %s (%d bytes) is not the packaged module (%d bytes)", file, len(got), len(module))
	}
	for k := range w.GetConfig().GetVmConfig().GetEnvironmentVariables().GetKeyValues() {
		if strings.HasPrefix(k, "ISTIO_META_") {
			t.Errorf("%s left for Envoy", k)
		}
	}
	return file
}

// TestECDSEnvoy: the CLI's WasmPlugin (--selector app=httpbin), istiod's ECDS resource for
// the filter on httpbin's inbound 8000 chain, the agent's conversion pulling the image
// from the registry (compat and artifact formats), and the converted filter in a real
// Envoy in front of an upstream: the request and response headers the configuration sets.
func TestECDSEnvoy(t *testing.T) {
	reg := harness.StartRegistry(t)
	wasmPath, module := harness.Module(t, "http_headers")
	const config = `{"request": {"set": [{"name": "x-env", "value": "prod"}]},
		"response": {"set": [{"name": "x-plugin", "value": "A"}]}}`
	for _, format := range []string{"compat", "artifact"} {
		t.Run(format, func(t *testing.T) {
			img := harness.Package(t, "http_headers", wasmPath, reg+"/http-headers", format, format)
			m := harness.RunManifests(t, "http_headers", "--image", img.TagURL(),
				"--selector", "app=httpbin", "--config", configFile(t, config))
			mesh := newMesh(t, m.WasmPlugin)
			chains := mesh.chains(t)
			name := ecdsName("WasmPlugin", "default", "http-headers")
			c := findChain(t, chains, func(c chain) bool {
				return c.proxy == "httpbin" && c.class == "inbound" && c.port == 8000 && c.hasHTTP()
			}, "httpbin inbound 8000")
			httpFilterOn(t, c, name)

			resources := mesh.ecdsFor(t, "httpbin", name)
			_, w := harness.WasmOf(t, resources[0])
			checkIstiodWasm(t, w, img, config)

			harness.ConvertECDS(t, resources)
			ec, w := harness.WasmOf(t, resources[0])
			file := checkConverted(t, w, module)
			t.Logf("istiod → agent: %s → %s", img.TagURL(), file)

			up := startUpstream(t)
			envoy := harness.StartEnvoy(t, envoyBootstrap(t, []*core.TypedExtensionConfig{ec}, up.port()))
			resp := get(t, envoy)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %s\n", resp.Status)
			}
			if got := resp.Header.Values("x-plugin"); !reflect.DeepEqual(got, []string{"A"}) {
				t.Errorf("response x-plugin %q, want [A]", got)
			}
			if got := up.last().Values("x-env"); !reflect.DeepEqual(got, []string{"prod"}) {
				t.Errorf("the upstream saw x-env %q, want [prod]", got)
			}
		})
	}
}

// TestTwoPluginsOneImage: a mesh-wide WasmPlugin (the root namespace istio-system) and a
// namespace one (default), both `--selector app=httpbin` from the same image, with
// different configurations. istiod gives two ECDS resources with the same code and root_id
// and no vm_id, so Envoy runs both plugins in one VM; both must act, each with its own
// configuration.
func TestTwoPluginsOneImage(t *testing.T) {
	reg := harness.StartRegistry(t)
	wasmPath, module := harness.Module(t, "http_headers")
	img := harness.Package(t, "http_headers", wasmPath, reg+"/http-headers", "compat", "compat")
	configs := map[string]string{
		"istio-system": `{"request": {"add": [{"name": "x-seen", "value": "A"}]},
			"response": {"add": [{"name": "x-plugin", "value": "A"}]}}`,
		"default": `{"request": {"add": [{"name": "x-seen", "value": "B"}]},
			"response": {"add": [{"name": "x-plugin", "value": "B"}]}}`,
	}
	var docs []string
	for _, ns := range []string{"istio-system", "default"} {
		m := harness.RunManifests(t, "http_headers", "--image", img.TagURL(), "-n", ns,
			"--selector", "app=httpbin", "--config", configFile(t, configs[ns]))
		docs = append(docs, m.WasmPlugin)
	}
	mesh := newMesh(t, docs...)
	chains := mesh.chains(t)
	names := []string{ecdsName("WasmPlugin", "istio-system", "http-headers"), ecdsName("WasmPlugin", "default", "http-headers")}
	t.Logf("two WasmPlugins, one image:\n%s", table(chains, names...))
	c := findChain(t, chains, func(c chain) bool {
		return c.proxy == "httpbin" && c.class == "inbound" && c.port == 8000 && c.hasHTTP()
	}, "httpbin inbound 8000")
	// The chain's order (push_context.go TrafficExtensionsByListenerInfo: the proxy's
	// namespace, then the root namespace, stable-sorted by priority).
	var inChain []string
	for _, f := range c.http {
		if contains(names, f) {
			httpFilterOn(t, c, f)
			inChain = append(inChain, f)
		}
	}
	if len(inChain) != 2 {
		t.Fatalf("%s carries %d of the two plugins: %s", c, len(inChain), shortAll(c.http))
	}

	resources := mesh.ecdsFor(t, "httpbin", inChain...)
	var ws []*httpwasm.Wasm
	for i, r := range resources {
		_, w := harness.WasmOf(t, r)
		ns := strings.SplitN(strings.TrimPrefix(inChain[i], model.TrafficExtensionResourceNamePrefix), ".", 2)[0]
		checkIstiodWasm(t, w, img, configs[ns])
		ws = append(ws, w)
	}
	if !proto.Equal(ws[0].GetConfig().GetVmConfig().GetCode(), ws[1].GetConfig().GetVmConfig().GetCode()) {
		t.Errorf("the two plugins' code differs: %v vs %v", ws[0].GetConfig().GetVmConfig().GetCode(), ws[1].GetConfig().GetVmConfig().GetCode())
	}

	// The agent converts every resource of an ECDS response in one call, with one cache.
	harness.ConvertECDS(t, resources)
	var filters []*core.TypedExtensionConfig
	var files []string
	for _, r := range resources {
		ec, w := harness.WasmOf(t, r)
		files = append(files, checkConverted(t, w, module))
		filters = append(filters, ec)
	}
	if files[0] != files[1] {
		t.Errorf("one image, two files: %v", files)
	}

	up := startUpstream(t)
	envoy := harness.StartEnvoy(t, envoyBootstrap(t, filters, up.port()))
	resp := get(t, envoy)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %s", resp.Status)
	}
	got := resp.Header.Values("x-plugin")
	seen := up.last().Values("x-seen")
	t.Logf("filter order %s: response x-plugin %q, upstream x-seen %q", shortAll(inChain), got, seen)
	for what, values := range map[string][]string{"response x-plugin": got, "upstream x-seen": seen} {
		sorted := append([]string{}, values...)
		sort.Strings(sorted)
		if !reflect.DeepEqual(sorted, []string{"A", "B"}) {
			t.Errorf("%s %q: want one A (istio-system's configuration) and one B (default's)", what, values)
		}
	}
	// Each configuration acts as its own filter, in the chain's order: requests pass the
	// filters first to last, responses last to first.
	letter := map[string]string{"istio-system": "A", "default": "B"}
	var order []string
	for _, n := range inChain {
		order = append(order, letter[strings.SplitN(strings.TrimPrefix(n, model.TrafficExtensionResourceNamePrefix), ".", 2)[0]])
	}
	if !reflect.DeepEqual(seen, order) {
		t.Errorf("upstream x-seen %q, want %q (the chain's order)", seen, order)
	}
	if reverse := []string{order[1], order[0]}; !reflect.DeepEqual(got, reverse) {
		t.Errorf("response x-plugin %q, want %q (the chain's order, reversed)", got, reverse)
	}

	// One VM for both: Envoy keys VMs by vm_id and code (no vm_id, same file), so the
	// second plugin adds no VM to what one plugin alone has.
	alone := harness.StartEnvoy(t, envoyBootstrap(t, filters[:1], up.port()))
	both, one := vmCount(t, envoy), vmCount(t, alone)
	t.Logf("Wasm VMs (wasm.wasm_vm_count): %d with both plugins, %d with one", both, one)
	if both != one {
		t.Errorf("the two plugins run in separate VMs: %d VMs, %d with one plugin", both, one)
	}
}

// vmCount is Envoy's wasm.wasm_vm_count gauge.
func vmCount(t *testing.T, e *harness.Envoy) int {
	t.Helper()
	stats, err := e.AdminGet("/stats?filter=^wasm.wasm_vm_count$")
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if _, err := fmt.Sscanf(strings.TrimSpace(stats), "wasm.wasm_vm_count: %d", &n); err != nil {
		t.Fatalf("wasm.wasm_vm_count in %q: %v", stats, err)
	}
	return n
}
