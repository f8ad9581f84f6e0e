// The benchmark workloads on proxy-wasm-go-sdk (the Go peer), one module for both: the
// plugin configuration, `header` or `multi`, picks the workload of that plugin context,
// and every HTTP context does the workload of the plugin context that created it.
//
//   - header: read `:path`; answer 400 `bad path` unless it starts with `/`; add the
//     response header `x-bench: header`.
//   - multi: read the request headers in one pairs read, take `:method`, `:authority`,
//     `:path`, `x-b1` and `x-b2`, set `x-target: <method> <authority><path>` and
//     `x-route: <x-b1>/<x-b2>`, add the response header `x-bench: multi`.
//
// Like the other benchmark modules it keeps the `bench_memory_bytes` gauge (Envoy shows it
// as `wasmcustom.bench_memory_bytes`) at the largest linear memory of the plugin's VMs,
// updated once a second.
//
// Build: GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o proxy_wasm_go.wasm .
package main

import (
	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm"
	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/types"
)

// A reactor: Envoy calls the exports; main never runs past initialisation.
func main() {}

func init() {
	proxywasm.SetPluginContext(func(uint32) types.PluginContext { return &plugin{} })
}

// workload is what the HTTP contexts of one plugin context do.
type workload uint8

const (
	header workload = iota + 1
	multi
)

// plugin is one plugin context (one configuration of the module).
type plugin struct {
	types.DefaultPluginContext
	workload workload
	memory   proxywasm.MetricGauge
}

func (p *plugin) OnPluginStart(int) types.OnPluginStartStatus {
	configuration, err := proxywasm.GetPluginConfiguration()
	if err != nil {
		proxywasm.LogCriticalf("cannot read the plugin configuration: %v", err)
		return types.OnPluginStartStatusFailed
	}
	switch string(configuration) {
	case "header":
		p.workload = header
	case "multi":
		p.workload = multi
	default:
		proxywasm.LogCriticalf("plugin configuration %q: want header or multi", configuration)
		return types.OnPluginStartStatusFailed
	}
	p.memory = proxywasm.DefineGaugeMetric("bench_memory_bytes")
	if err := proxywasm.SetTickPeriodMilliSeconds(1000); err != nil {
		proxywasm.LogCriticalf("cannot set the tick period: %v", err)
		return types.OnPluginStartStatusFailed
	}
	return types.OnPluginStartStatusOK
}

// OnTick raises the gauge to this VM's linear memory size if that is larger (the SDK's
// gauges only add, so it adds the difference).
func (p *plugin) OnTick() {
	bytes := int64(memoryPages()) * 65536
	if shown := p.memory.Value(); shown < bytes {
		p.memory.Add(bytes - shown)
	}
}

func (p *plugin) NewHttpContext(uint32) types.HttpContext {
	switch p.workload {
	case header:
		return &headerFilter{}
	case multi:
		return &multiFilter{}
	}
	return nil
}

// headerFilter is the header workload.
type headerFilter struct {
	types.DefaultHttpContext
}

func (*headerFilter) OnHttpRequestHeaders(int, bool) types.Action {
	path, err := proxywasm.GetHttpRequestHeader(":path")
	if err != nil || len(path) == 0 || path[0] != '/' {
		if err := proxywasm.SendHttpResponse(400, nil, []byte("bad path"), -1); err != nil {
			proxywasm.LogErrorf("cannot send the local response: %v", err)
		}
		return types.ActionPause
	}
	return types.ActionContinue
}

func (*headerFilter) OnHttpResponseHeaders(int, bool) types.Action {
	if err := proxywasm.AddHttpResponseHeader("x-bench", "header"); err != nil {
		proxywasm.LogErrorf("cannot add x-bench: %v", err)
	}
	return types.ActionContinue
}

// multiFilter is the multi-header workload.
type multiFilter struct {
	types.DefaultHttpContext
}

func (*multiFilter) OnHttpRequestHeaders(int, bool) types.Action {
	// One pairs read for all five.
	headers, err := proxywasm.GetHttpRequestHeaders()
	if err != nil {
		proxywasm.LogErrorf("cannot read the request headers: %v", err)
		return types.ActionContinue
	}
	var method, authority, path, b1, b2 string
	for _, h := range headers {
		switch h[0] {
		case ":method":
			method = h[1]
		case ":authority":
			authority = h[1]
		case ":path":
			path = h[1]
		case "x-b1":
			b1 = h[1]
		case "x-b2":
			b2 = h[1]
		}
	}
	if err := proxywasm.ReplaceHttpRequestHeader("x-target", method+" "+authority+path); err != nil {
		proxywasm.LogErrorf("cannot set x-target: %v", err)
	}
	if err := proxywasm.ReplaceHttpRequestHeader("x-route", b1+"/"+b2); err != nil {
		proxywasm.LogErrorf("cannot set x-route: %v", err)
	}
	return types.ActionContinue
}

func (*multiFilter) OnHttpResponseHeaders(int, bool) types.Action {
	if err := proxywasm.AddHttpResponseHeader("x-bench", "multi"); err != nil {
		proxywasm.LogErrorf("cannot add x-bench: %v", err)
	}
	return types.ActionContinue
}
