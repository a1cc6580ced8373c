package features

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/ccrelay/ccrelay/relay/body"
)

// Item is the decision about one feature a request uses.
type Item struct {
	Feature Feature
	Support Support
	// Action is what Apply does: the matrix cell's action, or the provider's override, adjusted
	// when the request makes it moot (a temperature already in range: Pass) or impossible
	// (tools cannot be removed under tool history: Refuse; see Reason).
	Action Action
	// Path is where the request first uses the feature.
	Path string
	// Overridden reports that the provider's `features:` configuration chose the action.
	Overridden bool
	// Reason explains an action that differs from the configured one.
	Reason string

	configured Action // the cell's or override's action, before adjustments
}

// Decision says what to do with each feature a request uses on one provider.
type Decision struct {
	ProviderType string
	// ProviderName is the configured provider name shown in refusals; the caller may set it
	// (Decide leaves it empty and messages then name the type only).
	ProviderName string
	// Items lists the used features in matrix order.
	Items []Item
	// Betas are the anthropic-beta values to send upstream (after the allowlist and renames);
	// nil when none should be sent. DroppedBetas are the values left out.
	Betas        []string
	DroppedBetas []string

	usage    *Usage      // the request's, which the caller keeps
	fields   body.KeySet // the provider's field list (FieldAllowlist), when listed
	listed   bool
	unlisted []string // the keys outside the list that unknown_fields covers, when it is used
}

// Refusal is a request the relay answers itself instead of forwarding.
type Refusal struct {
	Feature Feature
	Path    string
	// Status and Type are the HTTP status and Anthropic error type to answer with:
	// 400 invalid_request_error, or 404 not_found_error for count_tokens (Claude Code then
	// falls back to its own estimate silently).
	Status  int
	Type    string
	Message string
}

// Error returns the refusal message.
func (r *Refusal) Error() string { return r.Message }

// temperatureRange is a provider's accepted temperature interval.
type temperatureRange struct {
	lo, hi float64
	loOpen bool
}

func (r temperatureRange) contains(t float64) bool {
	if r.loOpen {
		return t > r.lo && t <= r.hi
	}
	return t >= r.lo && t <= r.hi
}

func (r temperatureRange) String() string {
	open := "["
	if r.loOpen {
		open = "("
	}
	return open + strconv.FormatFloat(r.lo, 'g', -1, 64) + ", " + strconv.FormatFloat(r.hi, 'g', -1, 64) + "]"
}

// clamp returns t inside the range; an open lower bound becomes lo+0.01.
func (r temperatureRange) clamp(t float64) float64 {
	if t > r.hi {
		return r.hi
	}
	if r.loOpen && t <= r.lo {
		return r.lo + 0.01
	}
	if t < r.lo {
		return r.lo
	}
	return t
}

// temperatureRanges are the documented ranges: minimax (0, 1] (wire.md B.6), Claude [0, 1].
var temperatureRanges = map[string]temperatureRange{
	"minimax":   {lo: 0, hi: 1, loOpen: true},
	"anthropic": {lo: 0, hi: 1},
	"bedrock":   {lo: 0, hi: 1},
	"vertex":    {lo: 0, hi: 1},
	"azure":     {lo: 0, hi: 1},
}

// Decide chooses an action for every feature u uses on a provider type: the matrix cell's
// default, or the override from the provider's `features:` map (invalid overrides are ignored;
// reject them at configuration load with ValidateOverrides). A relay deciding for the same
// provider on every request builds its Row once instead.
func Decide(providerType string, overrides map[string]string, u Usage) Decision {
	return NewRow(providerType, overrides).Decide(&u)
}

// Row is one provider's effective matrix row: every cell with the provider's overrides
// applied, looked up once.
type Row struct {
	providerType string
	cells        [numFeatures]Cell
	overridden   [numFeatures]bool
	fields       body.KeySet // the provider's field list, when listed (FieldAllowlist)
	listed       bool
}

// NewRow builds the effective row of a provider type with its overrides.
func NewRow(providerType string, overrides map[string]string) *Row {
	r := &Row{providerType: providerType}
	for f := Feature(0); f < numFeatures; f++ {
		r.cells[f], r.overridden[f] = effectiveCell(providerType, f, overrides)
	}
	r.fields, r.listed = fieldSet(providerType)
	return r
}

// uses reports whether the request uses f on the row's provider. For a provider with a field
// list, unknown_fields is used when a top-level key is outside the list (unaccepted).
func (r *Row) uses(u *Usage, f Feature) bool {
	if f == UnknownFields && r.listed {
		return r.unaccepted(u) != 0
	}
	return u.Uses(f)
}

// unaccepted returns the top-level keys of the request outside the row's field list, null or
// not, but for those their own row removes whole: context_management and a top-level
// cache_control that are not null, when their rows strip.
func (r *Row) unaccepted(u *Usage) body.KeySet {
	out := u.keys &^ r.fields
	if r.cells[ContextManagement].Action == Strip && u.Uses(ContextManagement) {
		out &^= contextManagementKey
	}
	if r.cells[CacheControl].Action == Strip && u.topCacheControl {
		out &^= cacheControlKey
	}
	return out
}

// Decide is the package's Decide for the row's provider. The Decision refers to u, which must
// not change while the Decision is in use (a Usage is about 1.4 KB: taking it by pointer keeps
// the relay's stack small, so that a new connection's goroutine does not grow its stack).
func (r *Row) Decide(u *Usage) Decision {
	d := Decision{ProviderType: r.providerType, usage: u, fields: r.fields, listed: r.listed}
	n := 0
	for f := Feature(0); f < numFeatures; f++ {
		if r.uses(u, f) {
			n++
		}
	}
	d.Items = make([]Item, 0, n)
	providerType := r.providerType
	for f := Feature(0); f < numFeatures; f++ {
		if !r.uses(u, f) {
			continue
		}
		c, over := r.cells[f], r.overridden[f]
		it := Item{Feature: f, Support: c.Support, Action: c.Action, Path: u.Path(f), Overridden: over, configured: c.Action}
		switch f {
		case UnknownFields:
			if r.listed {
				d.unlisted = unlistedNames(r.unaccepted(u), u)
				it.Path = ""
				if len(d.unlisted) > 0 {
					it.Path = d.unlisted[0]
				}
			}
		case Temperature:
			r, ok := temperatureRanges[providerType]
			if (it.Action == Degrade || it.Action == Refuse) && (!ok || r.contains(u.Temperature)) {
				it.Action, it.Reason = Pass, "within the provider's range"
			}
		case Tools, ToolChoiceNone:
			removes := (f == Tools && it.Action == Strip) || (f == ToolChoiceNone && it.Action == Degrade)
			if removes && u.ToolHistory != "" {
				it.Action = Refuse
				it.Reason = "messages hold tool_use/tool_result blocks (at " + u.ToolHistory +
					") that need the tool definitions"
			}
		case AnthropicBeta:
			switch it.Action {
			case Pass:
				d.Betas = u.Betas
			case Strip, Refuse:
				d.Betas, d.DroppedBetas = FilterBetas(providerType, u.Betas)
				if len(d.DroppedBetas) == 0 {
					it.Action = Pass
				}
			}
		}
		d.Items = append(d.Items, it)
	}
	return d
}

// unlistedNames names the keys of s: the known ones, then those outside the Messages API whose
// value is not null (a null one has no name in u).
func unlistedNames(s body.KeySet, u *Usage) []string {
	out := s.Names()
	if s&body.OtherKeys != 0 {
		out = append(out, u.UnknownFields...)
	}
	return out
}

// NeedsDeep reports whether requests for the row's provider need the full Detect (see the
// package's NeedsDeep).
func (r *Row) NeedsDeep() bool {
	for f := Feature(0); f < numFeatures; f++ {
		if DeepFeature(f) && r.cells[f].Action != Pass {
			return true
		}
	}
	return false
}

// Action returns the action for f, Pass when the request does not use it.
func (d *Decision) Action(f Feature) Action {
	for _, it := range d.Items {
		if it.Feature == f {
			return it.Action
		}
	}
	return Pass
}

// NeedsInline reports whether URL images or PDFs are to be fetched and inlined: call
// fetch.Inliner.Inline (relay/fetch) on the body before Apply.
func (d *Decision) NeedsInline() bool {
	return d.Action(ImageURL) == Degrade || d.Action(PDFURL) == Degrade
}

// Refusal returns the first refused feature as a ready-made error, or nil when the request
// may be forwarded.
func (d *Decision) Refusal() *Refusal {
	for _, it := range d.Items {
		if it.Action == Refuse {
			return d.refusal(it)
		}
	}
	return nil
}

func (d *Decision) refusal(it Item) *Refusal {
	f := it.Feature
	r := &Refusal{Feature: f, Path: it.Path, Status: http.StatusBadRequest, Type: "invalid_request_error"}
	if f == CountTokens {
		r.Status, r.Type = http.StatusNotFound, "not_found_error"
	}
	who := "provider (" + d.ProviderType + ")"
	if d.ProviderName != "" {
		who = "provider " + strconv.Quote(d.ProviderName) + " (" + d.ProviderType + ")"
	}
	what, pronoun := d.describe(f), "it"
	if f == AnthropicBeta || f == UnknownFields {
		pronoun = "them"
	}
	at := ""
	if it.Path != "" && f != CountTokens {
		at = " (at " + it.Path + ")"
	}
	var b strings.Builder
	switch {
	case it.Reason != "" && it.Overridden && it.Support != None:
		fmt.Fprintf(&b, "%s is configured to %s %s%s (features: {%s: %s}), but cannot: %s; remove %s, or change that setting",
			who, it.configured, what, at, f, it.configured, it.Reason, pronoun)
	case it.Reason != "":
		fmt.Fprintf(&b, "%s does not support %s%s, and it cannot be worked around: %s; remove %s, or set features: {%s: pass} on the provider to send it anyway",
			who, what, at, it.Reason, pronoun, f)
	case it.Overridden && it.Support != None && it.Support != Partial:
		fmt.Fprintf(&b, "%s is configured to refuse %s%s (features: {%s: refuse}); remove %s, or change that setting",
			who, what, at, f, pronoun)
	default:
		fmt.Fprintf(&b, "%s does not support %s%s; ", who, what, at)
		if f != CountTokens {
			fmt.Fprintf(&b, "remove %s, or ", pronoun)
		}
		alt, effect := alternative(f)
		fmt.Fprintf(&b, "set features: {%s: %s} on the provider %s", f, alt, effect)
	}
	r.Message = b.String()
	return r
}

// alternative returns the action a refusal message suggests instead of refusing.
func alternative(f Feature) (Action, string) {
	s := specs[f]
	for _, a := range []Action{Degrade, Strip} {
		if f.Valid(a) && s.effect != "" {
			return a, s.effect
		}
	}
	return Pass, "to send it anyway"
}

// describe names what the request uses, with its value where that helps.
func (d *Decision) describe(f Feature) string {
	u := d.usage
	switch f {
	case ToolChoiceAuto, ToolChoiceAny, ToolChoiceTool, ToolChoiceNone:
		return "tool_choice " + u.ToolChoiceJSON
	case Temperature:
		s := "temperature " + strconv.FormatFloat(u.Temperature, 'g', -1, 64)
		if r, ok := temperatureRanges[d.ProviderType]; ok {
			s += " (allowed: " + r.String() + ")"
		}
		return s
	case AnthropicBeta:
		vals := d.DroppedBetas
		if len(vals) == 0 {
			vals = u.Betas
		}
		return "the anthropic-beta values " + strings.Join(vals, ", ")
	case UnknownFields:
		keys := u.UnknownFields
		if d.listed {
			keys = d.unlisted
		}
		if len(keys) == 0 {
			return "null-valued top-level keys outside the Messages API"
		}
		return "the top-level keys " + strings.Join(keys, ", ")
	}
	return specs[f].what
}

// FetchRefusal is the refusal of a request whose image (or, with pdf, document) at path could
// not be fetched to be sent inline (image_url or pdf_url set to degrade); msg says why.
func FetchRefusal(pdf bool, path, msg string) *Refusal {
	f := ImageURL
	if pdf {
		f = PDFURL
	}
	return &Refusal{Feature: f, Path: path, Status: http.StatusBadRequest, Type: "invalid_request_error", Message: msg}
}
