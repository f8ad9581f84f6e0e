// Package translate runs istiod's own translation (pilot's config controllers, push context
// and listener builders, through istio.io/istio/pilot/test/xds.NewFakeDiscoveryServer) on the
// WasmPlugin and TrafficExtension `cargo envoy-wasm manifests` writes, and the agent's
// (istio.io/istio/pkg/wasm) on the ECDS resources istiod then serves, into a real Envoy.
//
// It is a package of its own because it compiles about 1,800 packages of Istio (minutes on
// 2 cores the first time); `go test -run TestCompatImage .` in tests/istio never compiles it.
//
// Istio code used (istio.io/istio@v0.0.0-20260827124520-eed52ebb66ad):
//   - pilot/test/xds/fake.go, NewFakeDiscoveryServer: ConfigString (Istio resources, into
//     the memory config store) and KubernetesObjectString (Gateway API objects, into the fake
//     kube client the gateway controller reads), the extensions controller
//     (pilot/pkg/config/kube/extensions: WasmPlugin → synthetic TrafficExtension named
//     NAME~istio-translated-wasmplugin, translate.go translateWasmPlugin), and
//     bootstrap.InitGenerators (the ECDS generator, pilot/pkg/xds/ecds.go).
//   - pilot/pkg/networking/core/fake.go: SetupProxy, Listeners (ConfigGen.BuildListeners).
//   - Where TrafficExtensions land: pilot/pkg/model/push_context.go
//     TrafficExtensionsByListenerInfo (proxy's namespace + root namespace, sorted by
//     priority within a phase), pilot/pkg/model/extensions.go (matchMode: gateways are
//     CLIENT, sidecar inbound SERVER, outbound CLIENT; matchPorts), and
//     pilot/pkg/model/policyattachment.go ShouldAttachPolicy (selector for sidecars; targetRefs
//     only for proxies labelled gateway.networking.k8s.io/gateway-name, in the policy's
//     namespace). The HTTP filters are inserted by listener_builder.go
//     buildHTTPConnectionManager (AUTHN, authn, AUTHZ, authz, STATS, UNSPECIFIED), the network
//     ones by networkfilter.go buildCompleteNetworkFilters and listener_inbound.go
//     buildInboundNetworkFiltersForHTTP, as ECDS references
//     (pilot/pkg/networking/core/extension/extensionfilter.go).
package translate

import (
	"fmt"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listener "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	hcm "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"

	"istio.io/istio/pilot/pkg/model"
	"istio.io/istio/pilot/test/xds"
	"istio.io/istio/pkg/config/constants"
	istiolog "istio.io/istio/pkg/log"

	"github.com/envoy-wasm-sdk/envoy-wasm-sdk/tests/istio/internal/harness"
)

// TestMain quiets istiod's log, which at info writes about 2,000 lines a run: every scope at
// warn, but the default scope off (its only lines are the fake kube client's "CRD
// tlsroutes.gateway.networking.k8s.io expected to have a v1.6.0 annotation"). $ISTIO_LOG
// (debug, info, warn, error, none) sets every scope instead.
func TestMain(m *testing.M) {
	l, set := os.LookupEnv("ISTIO_LOG")
	for name, s := range istiolog.Scopes() {
		switch {
		case set:
			s.SetOutputLevel(istiolog.StringToLevel(l))
		case name == istiolog.DefaultScopeName:
			s.SetOutputLevel(istiolog.NoneLevel)
		default:
			s.SetOutputLevel(istiolog.WarnLevel)
		}
	}
	os.Exit(harness.Main(m))
}

// meshConfig is the mesh around the plugin (Istio resources, the fake's ConfigString):
//   - httpbin (namespace default, labels app=httpbin, 10.0.0.1): ports 8000 HTTP, 8080 HTTP
//     and 9000 TCP;
//   - other (namespace default, labels app=other, 10.0.0.2): the same ports;
//   - an Istio ingress gateway (istio-system, labels istio=ingressgateway, 10.0.0.4, Service
//     istio-ingressgateway): Gateway `ingressgateway` on 8080 HTTP with a VirtualService to
//     httpbin;
//   - the Service of a Gateway API gateway `ingress` (namespace default), as Istio's
//     deployment controller would make it (ingress-istio: NAME-CLASS,
//     gatewaycommon.GetDefaultName), with its pod as a WorkloadEntry (10.0.0.3, labelled
//     gateway.networking.k8s.io/gateway-name=ingress).
var meshConfig = meshService("httpbin", "10.0.0.1") + meshService("other", "10.0.0.2") + `
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: ingressgateway, namespace: istio-system}
spec:
  selector: {istio: ingressgateway}
  servers: [{port: {number: 8080, name: http, protocol: HTTP}, hosts: ["*"]}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: httpbin, namespace: istio-system}
spec:
  hosts: ["*"]
  gateways: [ingressgateway]
  http: [{route: [{destination: {host: httpbin.default.svc.cluster.local, port: {number: 8000}}}]}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: istio-ingressgateway, namespace: istio-system}
spec:
  hosts: [istio-ingressgateway.istio-system.svc.cluster.local]
  ports: [{number: 80, name: http, protocol: HTTP, targetPort: 8080}]
  resolution: STATIC
  location: MESH_INTERNAL
  workloadSelector: {labels: {istio: ingressgateway}}
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: istio-ingressgateway, namespace: istio-system}
spec:
  address: 10.0.0.4
  labels: {istio: ingressgateway}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ingress-istio, namespace: default}
spec:
  hosts: [ingress-istio.default.svc.cluster.local]
  ports: [{number: 80, name: http, protocol: HTTP}]
  resolution: STATIC
  location: MESH_INTERNAL
  workloadSelector: {labels: {gateway.networking.k8s.io/gateway-name: ingress}}
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: ingress-istio, namespace: default}
spec:
  address: 10.0.0.3
  labels: {gateway.networking.k8s.io/gateway-name: ingress}
`

// meshService is a mesh service NAME in namespace default (HTTP 8000 and 8080, TCP 9000)
// with one pod at ADDRESS labelled app=NAME: a ServiceEntry and its WorkloadEntry.
func meshService(name, address string) string {
	return fmt.Sprintf(`
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: %[1]s, namespace: default}
spec:
  hosts: [%[1]s.default.svc.cluster.local]
  ports:
  - {number: 8000, name: http, protocol: HTTP}
  - {number: 8080, name: http-admin, protocol: HTTP}
  - {number: 9000, name: tcp, protocol: TCP}
  resolution: STATIC
  location: MESH_INTERNAL
  workloadSelector: {labels: {app: %[1]s}}
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: %[1]s, namespace: default}
spec:
  address: %[2]s
  labels: {app: %[1]s}
---
`, name, address)
}

// gatewayAPI is a Gateway API gateway `ingress` of the built-in class `istio`
// (gatewaycommon.BuiltinGatewayClasses) with an HTTPRoute to httpbin: Kubernetes objects,
// which the gateway controller (pilot/pkg/config/kube/gateway) reads from the kube client
// and turns into an Istio Gateway `ingress-istio-autogenerated-k8s-gateway-http` bound to
// the ingress-istio Service (conversion.go, extractGatewayServices;
// push_context.go mergeGateways matches it against the proxy's service targets). Istio's
// own tests that attach policies by targetRef build gateways the same way
// (pilot/pkg/xds/waypoint_test.go: a Gateway in KubernetesObjectString, a proxy labelled
// gateway.networking.k8s.io/gateway-name).
const gatewayAPI = `
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: ingress, namespace: default}
spec:
  gatewayClassName: istio
  listeners:
  - {name: http, port: 80, protocol: HTTP, allowedRoutes: {namespaces: {from: Same}}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: httpbin, namespace: default}
spec:
  parentRefs: [{name: ingress}]
  rules:
  - backendRefs: [{group: networking.istio.io, kind: Hostname, name: httpbin.default.svc.cluster.local, port: 8000}]
`

// proxyInfo is one proxy of the mesh, as SetupProxy takes it.
type proxyInfo struct {
	name      string // in tables and messages
	typ       model.NodeType
	namespace string
	ip        string
	labels    map[string]string
}

var (
	httpbin = proxyInfo{"httpbin", model.SidecarProxy, "default", "10.0.0.1", map[string]string{"app": "httpbin"}}
	other   = proxyInfo{"other", model.SidecarProxy, "default", "10.0.0.2", map[string]string{"app": "other"}}
	// istioGW is the Istio ingress gateway (istio=ingressgateway, istio-system).
	istioGW = proxyInfo{"istio-gw", model.Router, "istio-system", "10.0.0.4", map[string]string{"istio": "ingressgateway"}}
	// apiGW is the pod of the Gateway API gateway `ingress` (namespace default).
	apiGW = proxyInfo{"ingress", model.Router, "default", "10.0.0.3",
		map[string]string{"gateway.networking.k8s.io/gateway-name": "ingress"}}

	allProxies = []proxyInfo{httpbin, other, istioGW, apiGW}
)

// mesh is a fake istiod serving meshConfig, the Gateway API gateway and the plugins.
type mesh struct {
	s       *xds.FakeDiscoveryServer
	proxies map[string]*model.Proxy
}

// newMesh starts a fake istiod with the mesh above plus plugins (YAML documents: the CLI's
// wasmplugin.yaml or trafficextension.yaml). The root namespace is the default mesh
// config's, istio-system (pkg/config/mesh/mesh.go, DefaultMeshConfig).
func newMesh(t *testing.T, plugins ...string) *mesh {
	t.Helper()
	config := meshConfig + "\n---\n" + strings.Join(plugins, "\n---\n")
	s := xds.NewFakeDiscoveryServer(t, xds.FakeOptions{
		ConfigString:           config,
		KubernetesObjectString: gatewayAPI,
	})
	if root := s.PushContext().Mesh.GetRootNamespace(); root != "istio-system" {
		t.Fatalf("the fake istiod's root namespace is %q, the tests assume istio-system", root)
	}
	m := &mesh{s: s, proxies: map[string]*model.Proxy{}}
	for _, p := range allProxies {
		m.proxies[p.name] = s.SetupProxy(&model.Proxy{
			ID:              p.name + "-1." + p.namespace,
			Type:            p.typ,
			ConfigNamespace: p.namespace,
			IPAddresses:     []string{p.ip},
			Labels:          p.labels,
			Metadata: &model.NodeMetadata{
				Namespace: p.namespace,
				ClusterID: constants.DefaultClusterName,
				Labels:    p.labels,
			},
		})
	}
	return m
}

// chain is one filter chain of one listener of one proxy, as istiod built it.
type chain struct {
	proxy    string
	class    string // inbound, outbound (sidecars) or gateway
	listener string
	chain    string // the filter chain's name ("" for most outbound ones)
	tls      string // its transport match: mtls (Istio's), tls, raw_buffer or "" (any)
	port     int    // the destination port it serves; 0 for catch-all (passthrough) chains
	network  []string
	http     []string // nil without an HTTP connection manager
	hcm      *hcm.HttpConnectionManager
}

func (c chain) String() string {
	return fmt.Sprintf("%s %s %s[%s] port %d", c.proxy, c.class, c.listener, c.label(), c.port)
}

// label is the chain's name and transport match, which tell apart an inbound port's chains
// (mTLS, TLS, plain text).
func (c chain) label() string {
	if c.tls == "" || c.chain == "" {
		return c.chain + c.tls
	}
	return c.chain + " " + c.tls
}

func (c chain) hasHTTP() bool { return c.hcm != nil }

// chains builds every proxy's listeners and lists their filter chains. The Gateway API
// gateway's listeners come from krt collections that may trail the fake's sync: wait (with
// a deadline) until its listener exists.
func (m *mesh) chains(t *testing.T) []chain {
	t.Helper()
	var out []chain
	for _, p := range allProxies {
		proxy := m.proxies[p.name]
		listeners := m.s.Listeners(proxy)
		if p.name == apiGW.name {
			deadline := time.Now().Add(30 * time.Second)
			for len(listeners) == 0 && time.Now().Before(deadline) {
				time.Sleep(50 * time.Millisecond)
				m.s.Discovery.ConfigUpdate(&model.PushRequest{Forced: true})
				m.waitPush(t)
				listeners = m.s.Listeners(proxy)
			}
			if len(listeners) == 0 {
				t.Fatalf("the Gateway API gateway `ingress` got no listeners")
			}
		}
		for _, l := range listeners {
			out = append(out, chainsOf(t, p, l)...)
		}
	}
	return out
}

// waitPush waits until the fake istiod committed every update it received.
func (m *mesh) waitPush(t *testing.T) {
	deadline := time.Now().Add(30 * time.Second)
	in := m.s.Discovery.InboundUpdates.Load()
	for m.s.Discovery.CommittedUpdates.Load() < in {
		if time.Now().After(deadline) {
			t.Fatal("istiod did not commit its updates")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func chainsOf(t *testing.T, p proxyInfo, l *listener.Listener) []chain {
	class := "gateway"
	if p.typ == model.SidecarProxy {
		class = "outbound"
		if l.GetTrafficDirection() == core.TrafficDirection_INBOUND {
			class = "inbound"
		}
	}
	fcs := append([]*listener.FilterChain{}, l.GetFilterChains()...)
	if l.GetDefaultFilterChain() != nil {
		fcs = append(fcs, l.GetDefaultFilterChain())
	}
	var out []chain
	for _, fc := range fcs {
		c := chain{proxy: p.name, class: class, listener: l.GetName(), chain: fc.GetName(),
			tls: fc.GetFilterChainMatch().GetTransportProtocol()}
		for _, alpn := range fc.GetFilterChainMatch().GetApplicationProtocols() {
			if strings.HasPrefix(alpn, "istio") {
				c.tls = "mtls" // Istio's mutual TLS (ALPN istio-peer-exchange, istio)
				break
			}
		}
		if dp := fc.GetFilterChainMatch().GetDestinationPort(); dp != nil {
			c.port = int(dp.GetValue())
		} else if l.GetName() != "virtualInbound" && l.GetName() != "virtualOutbound" {
			c.port = int(l.GetAddress().GetSocketAddress().GetPortValue())
		}
		for _, f := range fc.GetFilters() {
			c.network = append(c.network, f.GetName())
			if f.GetName() == "envoy.filters.network.http_connection_manager" && c.hcm == nil {
				h := &hcm.HttpConnectionManager{}
				if err := f.GetTypedConfig().UnmarshalTo(h); err != nil {
					t.Fatalf("%s: %v", c, err)
				}
				c.hcm = h
				c.http = []string{}
				for _, hf := range h.GetHttpFilters() {
					c.http = append(c.http, hf.GetName())
				}
			}
		}
		out = append(out, c)
	}
	return out
}

// ecdsName is the ECDS resource name (and filter name) istiod gives a plugin:
// model.TrafficExtensionResourceNamePrefix + NAMESPACE.NAME, with the synthetic marker for a
// translated WasmPlugin (pilot/pkg/config/kube/extensions/translate.go).
func ecdsName(kind, namespace, name string) string {
	n := model.TrafficExtensionResourceNamePrefix + namespace + "." + name
	if kind == "WasmPlugin" {
		n += "~istio-translated-wasmplugin"
	}
	return n
}

// short names a filter for the tables.
func short(name string) string {
	if strings.HasPrefix(name, model.TrafficExtensionResourceNamePrefix) {
		n := strings.TrimPrefix(name, model.TrafficExtensionResourceNamePrefix)
		n = strings.TrimSuffix(n, "~istio-translated-wasmplugin")
		return "*" + n
	}
	for _, p := range []string{"envoy.filters.http.", "envoy.filters.network.", "envoy.", "istio."} {
		name = strings.TrimPrefix(name, p)
	}
	switch name {
	case "http_connection_manager":
		return "hcm"
	case "metadata_exchange":
		return "mx"
	}
	return name
}

func shortAll(names []string) string {
	s := make([]string, len(names))
	for i, n := range names {
		s[i] = short(n)
	}
	return strings.Join(s, ",")
}

// table is where the filters are: a line per chain carrying any of names, with its
// filters, then (so the table shows what was left alone) a line per proxy and class listing
// the listener:port of the chains without (with the chain when its listener has both; by
// chain name in virtualInbound, whose chains are named after what they serve).
func table(chains []chain, names ...string) string {
	has := func(c chain) bool {
		for _, n := range names {
			if contains(c.network, n) || contains(c.http, n) {
				return true
			}
		}
		return false
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%-8s %-8s %-16s %-40s %5s  %s\n", "proxy", "class", "listener", "chain", "port", "network filters | http filters   (* = Wasm plugin via ECDS)")
	mixed := map[string]bool{} // proxy+listener with the filter on some chain
	for _, c := range chains {
		if has(c) {
			mixed[c.proxy+" "+c.listener] = true
		}
	}
	without := map[string][]string{}
	var order []string
	for _, c := range chains {
		if has(c) {
			http := ""
			if c.hasHTTP() {
				http = " | " + shortAll(c.http)
			}
			fmt.Fprintf(&b, "%-8s %-8s %-16s %-40s %5d  %s%s\n", c.proxy, c.class, c.listener, trim(c.label(), 40), c.port, shortAll(c.network), http)
			continue
		}
		key := c.proxy + " " + c.class
		if _, ok := without[key]; !ok {
			order = append(order, key)
		}
		entry := fmt.Sprintf("%s:%d", c.listener, c.port)
		switch {
		case c.listener == "virtualInbound":
			// Its chains are named after what they serve.
			entry = fmt.Sprintf("%s:%d", c.chain, c.port)
		case mixed[c.proxy+" "+c.listener]:
			entry += "(" + c.label() + ")"
		}
		without[key] = append(without[key], entry)
	}
	for _, k := range order {
		l := uniq(without[k])
		fmt.Fprintf(&b, "%-17s without: %s\n", k, strings.Join(l, " "))
	}
	return b.String()
}

func trim(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-1] + "…"
}

func uniq(in []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range in {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	sort.Strings(out)
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func index(list []string, s string) int {
	for i, x := range list {
		if x == s {
			return i
		}
	}
	return -1
}
