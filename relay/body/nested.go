package body

// Fact is something a body may hold below its top level (or, for CacheControl and Effort, at
// either level) that the feature matrix decides on. The Nested walk finds where each is first.
type Fact uint8

// Facts.
const (
	SystemMessage     Fact = iota // a message with role "system" (at its role)
	Effort                        // output_config.effort, at the top level or in a message
	CacheControl                  // a cache_control that is not null: top level, block or tool
	ImageBase64                   // an image block with a base64 source
	ImageURL                      // an image block with a URL source
	DocumentBase64                // a document block with a base64 source (a PDF)
	DocumentURL                   // a document block with a URL source (a PDF)
	DocumentText                  // a document block with a text or content source
	FileSource                    // an image or document block with a Files API source
	ClientTool                    // a tool that is not one of the server tools below
	WebSearchTool                 // a web_search_* server tool
	WebFetchTool                  // a web_fetch_* server tool
	CodeExecutionTool             // a code_execution_* server tool
	DeferLoading                  // a tool with defer_loading
	ToolHistory                   // a tool_use or tool_result block in a message

	numFacts
)

// Nested is what a body holds below its top level, found by one walk of every system block,
// message, content block (and tool_result content) and tool.
type Nested struct {
	first [numFacts]string
	// ThinkingHistory reports a thinking or redacted_thinking block in an assistant message.
	ThinkingHistory bool
}

// First returns where the body first holds f, as a path for messages such as
// "messages[1].content[0].cache_control", and whether it holds f at all.
func (n *Nested) First(f Fact) (string, bool) {
	if f >= numFacts || n.first[f] == "" {
		return "", false
	}
	return n.first[f], true
}

func (n *Nested) mark(f Fact, l Loc, suffix string) {
	if n.first[f] == "" {
		n.first[f] = l.Human(suffix)
	}
}

// ServerTool returns the server-tool fact of a tool type, and whether it is one.
func ServerTool(typ string) (Fact, bool) {
	switch {
	case hasPrefix(typ, "web_search_"):
		return WebSearchTool, true
	case hasPrefix(typ, "web_fetch_"):
		return WebFetchTool, true
	case hasPrefix(typ, "code_execution_"):
		return CodeExecutionTool, true
	}
	return 0, false
}

func hasPrefix(s, p string) bool { return len(s) >= len(p) && s[:len(p)] == p }

// nested walks b and returns what it holds below the top level, and whether b is valid.
func nested(b []byte) (*Nested, bool) {
	n := &Nested{}
	lastRole := ""
	valid := walk(b, func(e *Node) {
		switch e.Kind {
		case TopKey:
			if e.Key == "output_config" && e.Value.Get("effort").Exists() {
				n.mark(Effort, TopLoc, "output_config.effort")
			}
		case Message:
			lastRole = e.Role
			if e.Role == "system" {
				n.mark(SystemMessage, e.Loc, "role")
			}
		case MessageKey:
			if e.Key == "output_config" && e.Value.Get("effort").Exists() {
				n.mark(Effort, e.Loc, "output_config.effort")
			}
		case Block:
			n.block(e)
			if e.Loc.Area == AreaMessages && lastRole == "assistant" && (e.Type == "thinking" || e.Type == "redacted_thinking") {
				n.ThinkingHistory = true
			}
		case Cache:
			n.mark(CacheControl, e.Loc, "cache_control")
		case Tool:
			if f, ok := ServerTool(e.Type); ok {
				n.mark(f, e.Loc, "")
			} else {
				n.mark(ClientTool, e.Loc, "")
			}
			if e.Deferred {
				n.mark(DeferLoading, e.Loc, "defer_loading")
			}
		}
	})
	return n, valid
}

func (n *Nested) block(e *Node) {
	switch e.Type {
	case "image":
		switch e.SourceType {
		case "base64":
			n.mark(ImageBase64, e.Loc, "")
		case "url":
			n.mark(ImageURL, e.Loc, "")
		case "file":
			n.mark(FileSource, e.Loc, "")
		}
	case "document":
		switch e.SourceType {
		case "base64":
			n.mark(DocumentBase64, e.Loc, "")
		case "url":
			n.mark(DocumentURL, e.Loc, "")
		case "text", "content":
			n.mark(DocumentText, e.Loc, "")
		case "file":
			n.mark(FileSource, e.Loc, "")
		}
	case "tool_use", "tool_result":
		if e.Loc.Area == AreaMessages {
			n.mark(ToolHistory, e.Loc, "")
		}
	}
}
