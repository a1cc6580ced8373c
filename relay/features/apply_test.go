package features

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// applyCase is one Decide+Apply run: input bytes → output bytes and notes, or the refusal.
// The name starts with "provider/feature" (the cell it exercises).
type applyCase struct {
	name        string
	provider    string
	overrides   map[string]string
	betas       []string
	countTokens bool
	ceiling     int
	in          string
	out         string // "" means unchanged
	notes       []string
	refusal     string
	betasOut    []string
}

// defaultCases cover every cell whose default action is not pass (TestEveryNonPassCellCovered
// checks that), using request shapes with irregular spacing to show that the bytes around the
// edits are kept.
var defaultCases = []applyCase{
	// ollama
	{name: "ollama/tool_choice_auto", provider: "ollama",
		in:    `{"model":"m","tools":[{"name":"a","input_schema":{}}], "tool_choice": {"type":"auto","disable_parallel_tool_use":true},"messages":[]}`,
		out:   `{"model":"m","tools":[{"name":"a","input_schema":{}}],"messages":[]}`,
		notes: []string{"tool_choice=dropped"}},
	{name: "ollama/tool_choice_any", provider: "ollama",
		in:      `{"tools":[{"name":"a","input_schema":{}}],"tool_choice":{ "type": "any" }}`,
		refusal: `provider "local" (ollama) does not support tool_choice {"type":"any"} (at tool_choice); remove it, or set features: {tool_choice_any: degrade} on the provider to drop it`},
	{name: "ollama/tool_choice_tool", provider: "ollama",
		in:      `{"tools":[{"name":"a","input_schema":{}}],"tool_choice":{"type":"tool","name":"a"}}`,
		refusal: `provider "local" (ollama) does not support tool_choice {"type":"tool","name":"a"} (at tool_choice); remove it, or set features: {tool_choice_tool: degrade} on the provider to drop it`},
	{name: "ollama/tool_choice_none", provider: "ollama",
		in:    `{"model":"m", "tools": [{"name":"a","input_schema":{}}], "tool_choice": {"type":"none"}, "messages":[{"role":"user","content":"hi"}]}`,
		out:   `{"model":"m", "messages":[{"role":"user","content":"hi"}]}`,
		notes: []string{"tools=removed", "tool_choice=dropped"}},
	{name: "ollama/tool_choice_none/with tool history", provider: "ollama",
		in:      `{"tools":[{"name":"a","input_schema":{}}],"tool_choice":{"type":"none"},"messages":[{"role":"user","content":"q"},{"role":"assistant","content":[{"type":"tool_use","id":"t1","name":"a","input":{}}]},{"role":"user","content":[{"type":"tool_result","tool_use_id":"t1","content":"r"}]}]}`,
		refusal: `provider "local" (ollama) does not support tool_choice {"type":"none"} (at tool_choice), and it cannot be worked around: messages hold tool_use/tool_result blocks (at messages[1].content[0]) that need the tool definitions; remove it, or set features: {tool_choice_none: pass} on the provider to send it anyway`},
	{name: "ollama/thinking_budget", provider: "ollama",
		in:    `{"max_tokens":2048,"thinking":{"type":"enabled","budget_tokens":1024},"messages":[]}`,
		notes: []string{"thinking_budget=not_enforced"}},
	{name: "ollama/cache_control", provider: "ollama",
		in:    `{"system":[{"type":"text","text":"a","cache_control":{"type":"ephemeral"}},{"cache_control":{"type":"ephemeral","ttl":"1h"},"type":"text","text":"b"}],"messages":[{"role":"user","content":[{"type":"text","text":"q", "cache_control": {"type":"ephemeral"}},{"type":"tool_result","tool_use_id":"t","content":[{"type":"text","text":"r","cache_control":{"type":"ephemeral"}}],"cache_control":{"type":"ephemeral"}}]}],"tools":[{"name":"x","input_schema":{},"cache_control":{"type":"ephemeral"}}],"cache_control":{"type":"ephemeral"}}`,
		out:   `{"system":[{"type":"text","text":"a"},{"type":"text","text":"b"}],"messages":[{"role":"user","content":[{"type":"text","text":"q"},{"type":"tool_result","tool_use_id":"t","content":[{"type":"text","text":"r"}]}]}],"tools":[{"name":"x","input_schema":{}}]}`,
		notes: []string{"cache_control=stripped"}},
	{name: "ollama/image_url", provider: "ollama",
		in:      `{"messages":[{"role":"user","content":[{"type":"text","text":"what is this?"},{"type":"image","source":{"type":"url","url":"https://example.com/a.png"}}]}]}`,
		refusal: `provider "local" (ollama) does not support image URLs (at messages[0].content[1]); remove it, or set features: {image_url: degrade} on the provider to fetch it and send it inline`},
	{name: "ollama/pdf_base64", provider: "ollama",
		in:      `{"messages":[{"role":"user","content":[{"type":"document","source":{"type":"base64","media_type":"application/pdf","data":"JVBERi0="}},{"type":"text","text":"summarise"}]}]}`,
		refusal: `provider "local" (ollama) does not support PDF documents (at messages[0].content[0]); remove it, or set features: {pdf_base64: strip} on the provider to leave the document out`},
	{name: "ollama/pdf_url", provider: "ollama",
		in:      `{"messages":[{"role":"user","content":[{"type":"document","source":{"type":"url","url":"https://example.com/a.pdf"}}]}]}`,
		refusal: `provider "local" (ollama) does not support PDF documents by URL (at messages[0].content[0]); remove it, or set features: {pdf_url: degrade} on the provider to fetch it and send it inline`},
	{name: "ollama/document_text", provider: "ollama",
		in:    `{"messages":[{"role":"user","content":[{"type":"document","title":"notes","source":{"type":"text","media_type":"text/plain","data":"line 1\n<b>line 2</b> é"}},{"type":"text","text":"q"}]}]}`,
		out:   `{"messages":[{"role":"user","content":[{"type":"text","text":"line 1\n<b>line 2</b> é"},{"type":"text","text":"q"}]}]}`,
		notes: []string{"document_text=as_text"}},
	{name: "ollama/document_text/content source, empty", provider: "ollama",
		in:    `{"messages":[{"role":"user","content":[{"type":"document","source":{"type":"content","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]}},{"type":"document","source":{"type":"text","data":""},"cache_control":{"type":"ephemeral"}}]}]}`,
		out:   `{"messages":[{"role":"user","content":[{"type":"text","text":"a\n\nb"},{"type":"text","text":"[ccrelay: empty document left out]"}]}]}`,
		notes: []string{"cache_control=stripped", "document_text=as_text"}},
	{name: "ollama/file_source", provider: "ollama",
		in:      `{"messages":[{"role":"user","content":[{"type":"image","source":{"type":"file","file_id":"file_1"}}]}]}`,
		refusal: `provider "local" (ollama) does not support Files API sources (source.type file) (at messages[0].content[0]); remove it, or set features: {file_source: strip} on the provider to leave the file out`},
	{name: "bedrock/context_management", provider: "bedrock",
		in:    `{"model":"m", "context_management":{"edits":[{"type":"clear_thinking_20251015","keep":"all"}]},"messages":[]}`,
		out:   `{"model":"m","messages":[]}`,
		notes: []string{"context_management=stripped"}},
	{name: "ollama/context_management", provider: "ollama",
		in:    `{"model":"m","context_management":{"edits":[{"type":"clear_thinking_20251015","keep":"all"}]},"stream":true}`,
		out:   `{"model":"m","stream":true}`,
		notes: []string{"context_management=stripped"}},
	{name: "ollama/defer_loading", provider: "ollama",
		in:    `{"tools":[{"name":"a","input_schema":{}},{"name":"b","input_schema":{},"defer_loading":true}]}`,
		out:   `{"tools":[{"name":"a","input_schema":{}},{"name":"b","input_schema":{}}]}`,
		notes: []string{"defer_loading=stripped"}},
	{name: "ollama/web_fetch", provider: "ollama",
		in:      `{"tools":[{"type":"web_fetch_20250910","name":"web_fetch"}]}`,
		refusal: `provider "local" (ollama) does not support the web fetch server tool (at tools[0]); remove it, or set features: {web_fetch: strip} on the provider to remove the tool`},
	{name: "ollama/code_execution", provider: "ollama",
		in:      `{"tools":[{"name":"a","input_schema":{}},{"type":"code_execution_20250825","name":"code_execution"}]}`,
		refusal: `provider "local" (ollama) does not support the code execution server tool (at tools[1]); remove it, or set features: {code_execution: strip} on the provider to remove the tool`},
	{name: "ollama/count_tokens", provider: "ollama", countTokens: true,
		in:    `{"model":"m","messages":[{"role":"user","content":"hi"}]}`,
		notes: []string{"count_tokens=estimated"}},
	{name: "ollama/anthropic_beta", provider: "ollama", betas: []string{"interleaved-thinking-2025-05-14,effort-2025-11-24"},
		in:    `{"model":"m"}`,
		notes: []string{"anthropic_beta=stripped:2"}},
	{name: "ollama/stop_sequences", provider: "ollama",
		in:    `{"stop_sequences":["END"],"messages":[]}`,
		notes: []string{"stop_sequences=no_stop_reason"}},
	{name: "ollama/metadata", provider: "ollama",
		in:    `{"metadata": {"user_id":"{\"device_id\":\"x\"}"}, "max_tokens": 10}`,
		out:   `{ "max_tokens": 10}`, // sjson removes the member and its comma, not the space after it
		notes: []string{"metadata=stripped"}},

	// minimax
	{name: "minimax/image_base64", provider: "minimax",
		in:      `{"messages":[{"role":"user","content":[{"type":"image","source":{"type":"base64","media_type":"image/png","data":"iVBORw=="}}]}]}`,
		refusal: `provider "local" (minimax) does not support base64 images (at messages[0].content[0]); remove it, or set features: {image_base64: strip} on the provider to leave the image out`},
	{name: "minimax/image_url", provider: "minimax",
		in:      `{"messages":[{"role":"user","content":[{"type":"image","source":{"type":"url","url":"https://example.com/a.png"}}]}]}`,
		refusal: `provider "local" (minimax) does not support image URLs (at messages[0].content[0]); remove it, or set features: {image_url: degrade} on the provider to fetch it and send it inline`},
	{name: "minimax/pdf_base64", provider: "minimax",
		in:      `{"messages":[{"role":"user","content":[{"type":"text","text":"q"},{"type":"tool_result","tool_use_id":"t","content":[{"type":"document","source":{"type":"base64","media_type":"application/pdf","data":"JVBE"}}]}]}]}`,
		refusal: `provider "local" (minimax) does not support PDF documents (at messages[0].content[1].content[0]); remove it, or set features: {pdf_base64: strip} on the provider to leave the document out`},
	{name: "minimax/pdf_url", provider: "minimax",
		in:      `{"messages":[{"role":"user","content":[{"type":"document","source":{"type":"url","url":"https://example.com/a.pdf"}}]}]}`,
		refusal: `provider "local" (minimax) does not support PDF documents by URL (at messages[0].content[0]); remove it, or set features: {pdf_url: degrade} on the provider to fetch it and send it inline`},
	{name: "minimax/document_text", provider: "minimax",
		in:    `{"messages":[{"role":"user","content":[{"type":"document","source":{"type":"text","media_type":"text/plain","data":"doc"},"cache_control":{"type":"ephemeral"}}]}]}`,
		out:   `{"messages":[{"role":"user","content":[{"type":"text","text":"doc","cache_control":{"type":"ephemeral"}}]}]}`,
		notes: []string{"document_text=as_text"}},
	{name: "minimax/context_management", provider: "minimax",
		in:    `{"context_management":{"edits":[]},"model":"m"}`,
		out:   `{"model":"m"}`,
		notes: []string{"context_management=stripped"}},
	{name: "minimax/temperature", provider: "minimax",
		in:    `{"temperature":0,"model":"m"}`,
		out:   `{"temperature":0.01,"model":"m"}`,
		notes: []string{"temperature=clamped:0.01"}},
	{name: "minimax/temperature/above 1", provider: "minimax",
		in:    `{"temperature": 1.7, "model":"m"}`,
		out:   `{"temperature": 1, "model":"m"}`,
		notes: []string{"temperature=clamped:1"}},
	{name: "minimax/temperature/in range", provider: "minimax",
		in: `{"temperature":0.7}`},
	{name: "minimax/top_k", provider: "minimax",
		in:    `{"top_k":40,"top_p":0.9}`,
		out:   `{"top_p":0.9}`,
		notes: []string{"top_k=stripped"}},
	{name: "minimax/stop_sequences", provider: "minimax",
		in:    `{"max_tokens":5,"stop_sequences":["\n\nHuman:"]}`,
		out:   `{"max_tokens":5}`,
		notes: []string{"stop_sequences=stripped"}},

	// bedrock
	{name: "bedrock/image_url", provider: "bedrock",
		in:      `{"messages":[{"role":"user","content":[{"type":"image","source":{"type":"url","url":"https://example.com/a.png"}}]}]}`,
		refusal: `provider "local" (bedrock) does not support image URLs (at messages[0].content[0]); remove it, or set features: {image_url: degrade} on the provider to fetch it and send it inline`},
	{name: "bedrock/pdf_url", provider: "bedrock",
		in:      `{"messages":[{"role":"user","content":[{"type":"document","source":{"type":"url","url":"https://example.com/a.pdf"}}]}]}`,
		refusal: `provider "local" (bedrock) does not support PDF documents by URL (at messages[0].content[0]); remove it, or set features: {pdf_url: degrade} on the provider to fetch it and send it inline`},
	{name: "bedrock/file_source", provider: "bedrock",
		in:      `{"messages":[{"role":"user","content":[{"type":"document","source":{"type":"file","file_id":"file_1"}}]}]}`,
		refusal: `provider "local" (bedrock) does not support Files API sources (source.type file) (at messages[0].content[0]); remove it, or set features: {file_source: strip} on the provider to leave the file out`},
	{name: "bedrock/web_search", provider: "bedrock",
		in:      `{"tools":[{"type":"web_search_20250305","name":"web_search","max_uses":3}]}`,
		refusal: `provider "local" (bedrock) does not support the web search server tool (at tools[0]); remove it, or set features: {web_search: strip} on the provider to remove the tool`},
	{name: "bedrock/web_fetch", provider: "bedrock",
		in:      `{"tools":[{"type":"web_fetch_20250910","name":"web_fetch"}]}`,
		refusal: `provider "local" (bedrock) does not support the web fetch server tool (at tools[0]); remove it, or set features: {web_fetch: strip} on the provider to remove the tool`},
	{name: "bedrock/code_execution", provider: "bedrock",
		in:      `{"tools":[{"type":"code_execution_20250825","name":"code_execution"}]}`,
		refusal: `provider "local" (bedrock) does not support the code execution server tool (at tools[0]); remove it, or set features: {code_execution: strip} on the provider to remove the tool`},
	{name: "bedrock/anthropic_beta", provider: "bedrock", betas: []string{"claude-code-20250219,advanced-tool-use-2025-11-20,interleaved-thinking-2025-05-14"},
		in:       `{"model":"m"}`,
		notes:    []string{"anthropic_beta=stripped:1"},
		betasOut: []string{"tool-search-tool-2025-10-19", "interleaved-thinking-2025-05-14"}},
	{name: "bedrock/anthropic_beta/all allowed", provider: "bedrock", betas: []string{"interleaved-thinking-2025-05-14"},
		in:       `{"model":"m"}`,
		betasOut: []string{"interleaved-thinking-2025-05-14"}},
	{name: "bedrock/max_tokens", provider: "bedrock", ceiling: 32000,
		in:    `{"max_tokens": 128000, "thinking": {"type":"enabled","budget_tokens":31999}}`,
		out:   `{"max_tokens": 32000, "thinking": {"type":"enabled","budget_tokens":31999}}`,
		notes: []string{"max_tokens=clamped:32000"}},
	{name: "bedrock/max_tokens/budget clamped too", provider: "bedrock", ceiling: 8192,
		in:    `{"max_tokens":32000,"thinking":{"type":"enabled","budget_tokens":31999}}`,
		out:   `{"max_tokens":8192,"thinking":{"type":"enabled","budget_tokens":8191}}`,
		notes: []string{"thinking_budget=clamped:8191", "max_tokens=clamped:8192"}},
	{name: "bedrock/unknown_fields", provider: "bedrock",
		in:    `{"model":"m","safeguards":[{"type":"dangerous_tool_use"}],"max_tokens":1,"x.y":true}`,
		out:   `{"model":"m","max_tokens":1}`,
		notes: []string{"unknown_fields=stripped:safeguards+x.y"}},
	{name: "bedrock/unknown_fields/Messages API keys outside the list, null ones too", provider: "bedrock",
		in:    `{"model":"m","stream":false,"service_tier":"auto","cache_control":{"type":"ephemeral"},"speed":null,"context_management":{"edits":[]},"x":null,"messages":[]}`,
		out:   `{"model":"m","stream":false,"messages":[]}`,
		notes: []string{"context_management=stripped", "unknown_fields=stripped:service_tier+cache_control+speed+x"}},
	{name: "bedrock/unknown_fields/null context_management", provider: "bedrock",
		in:    `{"model":"m","context_management":null,"messages":[]}`,
		out:   `{"model":"m","messages":[]}`,
		notes: []string{"unknown_fields=stripped:context_management"}},

	// vertex
	{name: "vertex/image_url", provider: "vertex",
		in:      `{"messages":[{"role":"user","content":[{"type":"image","source":{"type":"url","url":"https://example.com/a.png"}}]}]}`,
		refusal: `provider "local" (vertex) does not support image URLs (at messages[0].content[0]); remove it, or set features: {image_url: degrade} on the provider to fetch it and send it inline`},
	{name: "vertex/file_source", provider: "vertex",
		in:      `{"messages":[{"role":"user","content":[{"type":"image","source":{"type":"file","file_id":"f"}}]}]}`,
		refusal: `provider "local" (vertex) does not support Files API sources (source.type file) (at messages[0].content[0]); remove it, or set features: {file_source: strip} on the provider to leave the file out`},
	{name: "vertex/anthropic_beta", provider: "vertex", betas: []string{"effort-2025-11-24", "context-management-2025-06-27"},
		in:       `{}`,
		notes:    []string{"anthropic_beta=stripped:1"},
		betasOut: []string{"context-management-2025-06-27"}},
	{name: "vertex/unknown_fields", provider: "vertex",
		in:    `{"model":"m","safeguards":[],"service_tier":"auto","anthropic_beta":["x"],"context_management":{"edits":[]},"mcp_servers":null,"messages":[]}`,
		out:   `{"model":"m","context_management":{"edits":[]},"messages":[]}`,
		notes: []string{"unknown_fields=stripped:safeguards+service_tier+anthropic_beta+mcp_servers"}},
	{name: "vertex/max_tokens", provider: "vertex", ceiling: 64000,
		in:    `{"max_tokens":128000}`,
		out:   `{"max_tokens":64000}`,
		notes: []string{"max_tokens=clamped:64000"}},

	// anthropic, azure
	{name: "anthropic/max_tokens", provider: "anthropic", ceiling: 64000,
		in:    `{"model":"claude-sonnet-4-5","max_tokens":128000}`,
		out:   `{"model":"claude-sonnet-4-5","max_tokens":64000}`,
		notes: []string{"max_tokens=clamped:64000"}},
	{name: "anthropic/max_tokens/unknown ceiling", provider: "anthropic", ceiling: 0,
		in: `{"model":"claude-opus-5-5","max_tokens":128000}`},
	{name: "anthropic/max_tokens/below ceiling", provider: "anthropic", ceiling: 64000,
		in: `{"max_tokens":32000}`},
	{name: "azure/max_tokens", provider: "azure", ceiling: 32000,
		in:    `{"max_tokens":32001}`,
		out:   `{"max_tokens":32000}`,
		notes: []string{"max_tokens=clamped:32000"}},
}

// overrideCases exercise the actions a configuration can choose instead of the defaults.
var overrideCases = []applyCase{
	{name: "ollama/tool_choice_any/degrade", provider: "ollama", overrides: map[string]string{"tool_choice_any": "degrade"},
		in:    `{"tools":[{"name":"a","input_schema":{}}],"tool_choice":{"type":"any"}}`,
		out:   `{"tools":[{"name":"a","input_schema":{}}]}`,
		notes: []string{"tool_choice=dropped"}},
	{name: "ollama/image_url/strip", provider: "ollama", overrides: map[string]string{"image_url": "strip"},
		in:    `{"messages":[{"role":"user","content":[{"type":"image","source":{"type":"url","url":"https://example.com/a.png"}}]}]}`,
		out:   `{"messages":[{"role":"user","content":[{"type":"text","text":"[ccrelay: image left out: not supported by ollama]"}]}]}`,
		notes: []string{"image_url=stripped"}},
	{name: "ollama/image_url/degrade without Inliner", provider: "ollama", overrides: map[string]string{"image_url": "degrade"},
		in:      `{"messages":[{"role":"user","content":[{"type":"image","source":{"type":"url","url":"https://example.com/a.png"}}]}]}`,
		refusal: `the URL source at messages[0].content[0] was not inlined: call Inliner.Inline before Apply`},
	{name: "ollama/pdf_base64/strip keeps cache_control when allowed", provider: "ollama", overrides: map[string]string{"pdf_base64": "strip", "cache_control": "pass"},
		in:    `{"messages":[{"role":"user","content":[{"type":"document","source":{"type":"base64","media_type":"application/pdf","data":"JVBE"},"cache_control":{"type":"ephemeral"}}]}]}`,
		out:   `{"messages":[{"role":"user","content":[{"type":"text","text":"[ccrelay: PDF document left out: not supported by ollama]","cache_control":{"type":"ephemeral"}}]}]}`,
		notes: []string{"pdf_base64=stripped"}},
	{name: "ollama/tools/strip", provider: "ollama", overrides: map[string]string{"tools": "strip"},
		in:    `{"tools":[{"name":"a","input_schema":{}}],"messages":[]}`,
		out:   `{"messages":[]}`,
		notes: []string{"tools=stripped"}},
	{name: "anthropic/tools/strip with history", provider: "anthropic", overrides: map[string]string{"tools": "strip"},
		in:      `{"tools":[{"name":"a","input_schema":{}}],"messages":[{"role":"assistant","content":[{"type":"tool_use","id":"t","name":"a","input":{}}]}]}`,
		refusal: `provider "local" (anthropic) is configured to strip tools (at tools[0]) (features: {tools: strip}), but cannot: messages hold tool_use/tool_result blocks (at messages[0].content[0]) that need the tool definitions; remove it, or change that setting`},
	{name: "anthropic/tool_choice_any/refuse by configuration", provider: "anthropic", overrides: map[string]string{"tool_choice_any": "refuse"},
		in:      `{"tool_choice":{"type":"any"}}`,
		refusal: `provider "local" (anthropic) is configured to refuse tool_choice {"type":"any"} (at tool_choice) (features: {tool_choice_any: refuse}); remove it, or change that setting`},
	{name: "ollama/count_tokens/refuse", provider: "ollama", countTokens: true, overrides: map[string]string{"count_tokens": "refuse"},
		in:      `{"messages":[]}`,
		refusal: `provider "local" (ollama) does not support token counting (/v1/messages/count_tokens); set features: {count_tokens: degrade} on the provider to answer with a local estimate`},
	{name: "bedrock/web_search/strip", provider: "bedrock", overrides: map[string]string{"web_search": "strip"},
		in:    `{"tools":[{"type":"web_search_20250305","name":"web_search"},{"name":"a","input_schema":{}}],"tool_choice":{"type":"tool","name":"web_search"}}`,
		out:   `{"tools":[{"name":"a","input_schema":{}}]}`,
		notes: []string{"web_search=stripped"}},
	{name: "bedrock/web_search/strip the only tool", provider: "bedrock", overrides: map[string]string{"web_search": "strip"},
		in:    `{"model":"m","tools":[{"type":"web_search_20250305","name":"web_search"}],"tool_choice":{"type":"auto"}}`,
		out:   `{"model":"m"}`,
		notes: []string{"web_search=stripped"}},
	{name: "bedrock/anthropic_beta/refuse", provider: "bedrock", overrides: map[string]string{"anthropic_beta": "refuse"}, betas: []string{"claude-code-20250219"},
		in:      `{}`,
		refusal: `provider "local" (bedrock) does not support the anthropic-beta values claude-code-20250219 (at anthropic-beta header); remove them, or set features: {anthropic_beta: strip} on the provider to drop the unknown values`},
	{name: "bedrock/thinking_adaptive/degrade", provider: "bedrock", overrides: map[string]string{"thinking_adaptive": "degrade"},
		in:    `{"max_tokens":128000,"thinking":{"type":"adaptive","display":"omitted"}}`,
		out:   `{"max_tokens":128000,"thinking":{"type":"enabled","budget_tokens":31999}}`,
		notes: []string{"thinking_adaptive=as_enabled:31999"}},
	{name: "bedrock/thinking_adaptive/degrade under max_tokens", provider: "bedrock", overrides: map[string]string{"thinking_adaptive": "degrade"}, ceiling: 8192,
		in:    `{"max_tokens":32000,"thinking":{"type":"adaptive"}}`,
		out:   `{"max_tokens":8192,"thinking":{"type":"enabled","budget_tokens":8191}}`,
		notes: []string{"thinking_adaptive=as_enabled:8191", "max_tokens=clamped:8192"}},
	{name: "ollama/system_messages/degrade", provider: "ollama", overrides: map[string]string{"system_messages": "degrade"},
		in:    `{"messages":[{"role":"user","content":"a"},{"role": "system","content":[{"type":"text","text":"b"}],"output_config":{"effort":"medium"}}]}`,
		out:   `{"messages":[{"role":"user","content":"a"},{"role": "user","content":[{"type":"text","text":"b"}]}]}`,
		notes: []string{"system_messages=as_user"}},
	{name: "ollama/effort/strip", provider: "ollama", overrides: map[string]string{"effort": "strip"},
		in:    `{"output_config":{"effort":"high"},"messages":[{"role":"system","content":"x","output_config":{"effort":"low","format":{"type":"json"}}}]}`,
		out:   `{"messages":[{"role":"system","content":"x","output_config":{"format":{"type":"json"}}}]}`,
		notes: []string{"effort=stripped"}},
	{name: "minimax/temperature/refuse", provider: "minimax", overrides: map[string]string{"temperature": "refuse"},
		in:      `{"temperature":0}`,
		refusal: `provider "local" (minimax) does not support temperature 0 (allowed: (0, 1]) (at temperature); remove it, or set features: {temperature: degrade} on the provider to clamp it`},
	{name: "minimax/temperature/strip", provider: "minimax", overrides: map[string]string{"temperature": "strip"},
		in:    `{"temperature":0.5,"model":"m"}`,
		out:   `{"model":"m"}`,
		notes: []string{"temperature=stripped"}},
	{name: "anthropic/thinking_enabled/strip", provider: "anthropic", overrides: map[string]string{"thinking_enabled": "strip"},
		in:    `{"thinking":{"type":"enabled","budget_tokens":2000},"model":"m"}`,
		out:   `{"model":"m"}`,
		notes: []string{"thinking_enabled=stripped"}},
	{name: "ollama/thinking_enabled/strip, no budget note", provider: "ollama", overrides: map[string]string{"thinking_enabled": "strip"},
		in:    `{"max_tokens":2048,"thinking":{"type":"enabled","budget_tokens":1024}}`,
		out:   `{"max_tokens":2048}`,
		notes: []string{"thinking_enabled=stripped"}},
	{name: "bedrock/unknown_fields/path characters", provider: "bedrock",
		in:    `{"a|b":1,":x":2,"c*":3,"model":"m"}`,
		out:   `{"model":"m"}`,
		notes: []string{"unknown_fields=stripped:a_b+_x+c_"}},
	{name: "bedrock/unknown_fields/escaped keys", provider: "bedrock",
		in:    `{"\\":1,"model":"m","\u0061b":2}`,
		out:   `{"model":"m"}`,
		notes: []string{"unknown_fields=stripped:_+ab"}},
	{name: "bedrock/unknown_fields/many keys, header-safe note", provider: "bedrock",
		in:    `{"a":1,"b\r\nX-Evil: 1":2,"c":3,"d":4,"e":5,"f":6,"g":7,"model":"m"}`,
		out:   `{"model":"m"}`,
		notes: []string{"unknown_fields=stripped:a+b__X-Evil__1+c+d+e+more"}},
	{name: "bedrock/context_management/pass is still outside the list", provider: "bedrock", overrides: map[string]string{"context_management": "pass"},
		in:    `{"model":"m","context_management":{"edits":[]},"messages":[]}`,
		out:   `{"model":"m","messages":[]}`,
		notes: []string{"unknown_fields=stripped:context_management"}},
	{name: "bedrock/unknown_fields/pass", provider: "bedrock", overrides: map[string]string{"unknown_fields": "pass"},
		in:    `{"model":"m","service_tier":"auto","context_management":{"edits":[]},"messages":[]}`,
		out:   `{"model":"m","service_tier":"auto","messages":[]}`,
		notes: []string{"context_management=stripped"}},
	{name: "bedrock/unknown_fields/refuse names only the keys no row removes", provider: "bedrock", overrides: map[string]string{"unknown_fields": "refuse"},
		in:      `{"model":"m","context_management":{"edits":[]},"safeguards":[],"service_tier":"auto","messages":[]}`,
		refusal: `provider "local" (bedrock) does not support the top-level keys service_tier, safeguards (at service_tier); remove them, or set features: {unknown_fields: strip} on the provider to remove them`},
	{name: "bedrock/unknown_fields/refuse, not when every key is removed by its row", provider: "bedrock", overrides: map[string]string{"unknown_fields": "refuse"},
		in:    `{"model":"m","context_management":{"edits":[]},"messages":[]}`,
		out:   `{"model":"m","messages":[]}`,
		notes: []string{"context_management=stripped"}},
	{name: "bedrock/cache_control/strip removes the top-level one as its own", provider: "bedrock", overrides: map[string]string{"cache_control": "strip"},
		in:    `{"model":"m","cache_control":{"type":"ephemeral"},"system":[{"type":"text","text":"a","cache_control":{"type":"ephemeral"}}],"messages":[]}`,
		out:   `{"model":"m","system":[{"type":"text","text":"a"}],"messages":[]}`,
		notes: []string{"cache_control=stripped"}},
	{name: "vertex/unknown_fields/refuse a null key", provider: "vertex", overrides: map[string]string{"unknown_fields": "refuse"},
		in:      `{"model":"m","x":null,"messages":[]}`,
		refusal: `provider "local" (vertex) does not support null-valued top-level keys outside the Messages API; remove them, or set features: {unknown_fields: strip} on the provider to remove them`},
	{name: "ollama/metadata/pass", provider: "ollama", overrides: map[string]string{"metadata": "pass"},
		in: `{"metadata":{"user_id":"u"}}`},
	{name: "ollama/invalid override is ignored", provider: "ollama", overrides: map[string]string{"cache_control": "degrade"},
		in:    `{"cache_control":{"type":"ephemeral"},"model":"m"}`,
		out:   `{"model":"m"}`,
		notes: []string{"cache_control=stripped"}},
}

func runApplyCase(t *testing.T, tc applyCase) {
	t.Helper()
	in := []byte(tc.in)
	keep := append([]byte(nil), in...)
	u := Detect(in, tc.betas)
	u.CountTokens = tc.countTokens
	d := Decide(tc.provider, tc.overrides, u)
	d.ProviderName = "local"
	out, notes, err := Apply(in, d, tc.ceiling)
	if string(in) != string(keep) {
		t.Fatal("Apply modified its input")
	}
	if tc.refusal != "" {
		if err == nil {
			t.Fatalf("no refusal; out %s notes %v", out, notes)
		}
		if diff := cmp.Diff(tc.refusal, err.Error()); diff != "" {
			t.Errorf("refusal (-want +got):\n%s", diff)
		}
		if r, ok := err.(*Refusal); ok && r.Message != d.Refusal().Message {
			t.Errorf("Apply's refusal differs from Decision.Refusal")
		}
		return
	}
	if err != nil {
		t.Fatalf("unexpected error: %v", err)
	}
	want := tc.out
	if want == "" {
		want = tc.in
	}
	if diff := cmp.Diff(want, string(out)); diff != "" {
		t.Errorf("body (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(tc.notes, notes); diff != "" {
		t.Errorf("notes (-want +got):\n%s", diff)
	}
	if tc.betasOut != nil {
		if diff := cmp.Diff(tc.betasOut, d.Betas); diff != "" {
			t.Errorf("betas (-want +got):\n%s", diff)
		}
	}
}

func TestApplyDefaults(t *testing.T) {
	for _, tc := range defaultCases {
		t.Run(tc.name, func(t *testing.T) { runApplyCase(t, tc) })
	}
}

func TestApplyOverrides(t *testing.T) {
	for _, tc := range overrideCases {
		t.Run(tc.name, func(t *testing.T) { runApplyCase(t, tc) })
	}
}

// TestEveryNonPassCellCovered requires a default case for every matrix cell whose default
// action is not pass.
func TestEveryNonPassCellCovered(t *testing.T) {
	covered := map[string]bool{}
	for _, tc := range defaultCases {
		if len(tc.overrides) == 0 {
			parts := strings.SplitN(tc.name, "/", 3)
			covered[parts[0]+"/"+parts[1]] = true
		}
	}
	for _, f := range AllFeatures() {
		for _, p := range Providers {
			if Lookup(p, f).Action != Pass && !covered[p+"/"+f.String()] {
				t.Errorf("no default case for %s/%s (%s)", p, f, Lookup(p, f).Action)
			}
		}
	}
}

// TestLeftover covers the check behind stripping unknown keys, which refuses rather than
// announce a strip sjson could not do.
func TestLeftover(t *testing.T) {
	d := Decide("ollama", nil, Usage{})
	if k, left := d.leftover([]byte(`{"model":"m","max_tokens":1}`)); left {
		t.Errorf("found %q", k)
	}
	if k, left := d.leftover([]byte(`{"model":"m","x":1}`)); !left || k != "x" {
		t.Errorf("got %q, %v", k, left)
	}
	d = Decide("bedrock", nil, Usage{})
	if k, left := d.leftover([]byte(`{"model":"m","max_tokens":1,"service_tier":"auto"}`)); !left || k != "service_tier" {
		t.Errorf("bedrock: got %q, %v", k, left)
	}
}

func TestApplyNothingToDo(t *testing.T) {
	in := []byte(`{"model":"m", "messages":[{"role":"user","content":"hi"}]}`)
	d := Decide("anthropic", nil, Detect(in, nil))
	out, notes, err := Apply(in, d, 0)
	if err != nil || notes != nil || &out[0] != &in[0] {
		t.Errorf("want the same slice, no notes: %s %v %v", out, notes, err)
	}
}

// TestUnknownKeyThatBreaksTheStrip: removing a top-level key sjson misreads (a key that is
// only an escaped quote) would send invalid JSON; the request is refused instead, and names
// the key.
func TestUnknownKeyThatBreaksTheStrip(t *testing.T) {
	body := []byte(`{"\"":0}`)
	d := Decide("ollama", map[string]string{"unknown_fields": "strip"}, Detect(body, nil))
	out, _, err := Apply(body, d, 0)
	var ref *Refusal
	if !errors.As(err, &ref) || ref.Feature != UnknownFields || !strings.Contains(ref.Message, `"\""`) {
		t.Fatalf("Apply = %q, %v; want an unknown_fields refusal naming the key", out, err)
	}
}

// TestApplyAfterInline: the decision made on a body with URL sources applies cleanly to the
// body the fetcher has inlined (relay/fetch), and says so.
func TestApplyAfterInline(t *testing.T) {
	body := `{"model":"m", "messages":[{"role":"user","content":[{"type":"image", "source": {"type":"url","url":"https://example.com/a.png"}},` +
		`{"type":"document","source":{"type":"url","url":"https://example.com/a.pdf"},"title":"t"}]}]}`
	inlined := `{"model":"m", "messages":[{"role":"user","content":[{"type":"image", "source": {"type":"base64","media_type":"image/png","data":"AA=="}},` +
		`{"type":"document","source":{"type":"base64","media_type":"application/pdf","data":"JVBE"},"title":"t"}]}]}`
	u := Detect([]byte(body), nil)
	d := Decide("ollama", map[string]string{"image_url": "degrade", "pdf_url": "degrade", "pdf_base64": "pass"}, u)
	if !d.NeedsInline() {
		t.Fatal("NeedsInline is false")
	}
	applied, notes, err := Apply([]byte(inlined), d, 0)
	if err != nil {
		t.Fatal(err)
	}
	if string(applied) != inlined {
		t.Error("Apply changed the inlined body")
	}
	if diff := cmp.Diff([]string{"image_url=inlined", "pdf_url=inlined"}, notes); diff != "" {
		t.Errorf("notes (-want +got):\n%s", diff)
	}
	if _, _, err := Apply([]byte(body), d, 0); err == nil {
		t.Error("Apply accepted a URL source left in the body")
	}
}
