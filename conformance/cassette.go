package conformance

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path"
	"strings"

	"gopkg.in/dnaeon/go-vcr.v2/cassette"
	"gopkg.in/yaml.v3"
)

// Provenance kinds of a cassette.
const (
	// ProvenanceLive is a cassette recorded live by `ccrelay conform --record`.
	ProvenanceLive = "recorded-live"
	// ProvenanceRealTraffic is a cassette converted from a public recording in
	// fixtures/real-traffic (whose own source field names the upstream repository and commit).
	ProvenanceRealTraffic = "real-traffic"
	// ProvenanceDocumented is a cassette built from an example printed in a vendor's
	// documentation; its header names the page (url:).
	ProvenanceDocumented = "documented"
	// ProvenanceDerived is a cassette ccrelay wrote itself from a provider's documentation
	// (the rules it states, not an example it prints).
	ProvenanceDerived = "derived"
	// ProvenanceRelayOnly is a cassette without interactions: the relay answers the case itself
	// (a matrix refusal or estimate) and no provider answer is on record.
	ProvenanceRelayOnly = "relay-only"
)

// Provenance says where a cassette comes from. It is read from the cassette's header comment.
type Provenance struct {
	// Kind is one of recorded-live, real-traffic, documented, derived or relay-only.
	Kind string `json:"kind"`
	// Source is the recording, file or documentation section the cassette comes from.
	Source string `json:"source,omitempty"`
	// URL is the address of the vendor's documentation page whose example a documented
	// cassette reproduces (required for documented, allowed for the others).
	URL string `json:"url,omitempty"`
	// Upstream names the public origin of a real-traffic source (repository, path, commit).
	Upstream string `json:"upstream,omitempty"`
	// Recorded says when, against what and with which command a live cassette was recorded.
	Recorded string `json:"recorded,omitempty"`
	// ClientRequest says which client request the cassette is replayed with.
	ClientRequest string `json:"client_request,omitempty"`
	// Notes are further remarks: what was changed, what the cassette proves or does not.
	Notes []string `json:"notes,omitempty"`
}

// Evidence reports whether the cassette shows a provider's real behaviour (recorded live or
// from real traffic), as opposed to a vendor's example, a derivation or no answer at all.
func (p Provenance) Evidence() bool {
	return p.Kind == ProvenanceLive || p.Kind == ProvenanceRealTraffic
}

// cassetteFile is one loaded cassette with its provenance.
type cassetteFile struct {
	// name is the path below the cassettes root, such as "ollama/text-basic.yaml".
	name string
	prov Provenance
	c    *cassette.Cassette
	// data is the file's bytes; fresh parses them again, since go-vcr marks an interaction
	// as used once it has been replayed.
	data []byte
}

// fresh returns a copy of the cassette whose interaction has not been replayed yet.
func (cf *cassetteFile) fresh() *cassetteFile {
	if cf == nil {
		return nil
	}
	n, err := parseCassette(cf.data, cf.name)
	if err != nil {
		return cf // it parsed before
	}
	return n
}

// cassettePath returns the path of a cassette below the cassettes root.
func cassettePath(providerType, caseName string) string {
	return path.Join(providerType, caseName+".yaml")
}

// errNoCassette reports a cassette file that does not exist.
var errNoCassette = errors.New("no cassette")

// loadCassette reads and parses a cassette from fsys (rooted at the cassettes directory).
func loadCassette(fsys fs.FS, providerType, caseName string) (*cassetteFile, error) {
	name := cassettePath(providerType, caseName)
	data, err := fs.ReadFile(fsys, name)
	if err != nil {
		if isNotExist(err) {
			return nil, fmt.Errorf("conformance: cassettes/%s: %w", name, errNoCassette)
		}
		return nil, fmt.Errorf("conformance: %w", err)
	}
	return parseCassette(data, name)
}

// parseCassette decodes a go-vcr v2 cassette and the provenance in its header comment.
func parseCassette(data []byte, name string) (*cassetteFile, error) {
	c := cassette.New(strings.TrimSuffix(name, ".yaml"))
	c.File = "cassettes/" + name
	if err := yaml.Unmarshal(data, c); err != nil {
		return nil, fmt.Errorf("conformance: cassettes/%s: %w", name, err)
	}
	if c.Version != 1 {
		return nil, fmt.Errorf("conformance: cassettes/%s: cassette version %d, want 1 (go-vcr v2)", name, c.Version)
	}
	if len(c.Interactions) > 1 {
		return nil, fmt.Errorf("conformance: cassettes/%s: %d interactions, want at most one", name, len(c.Interactions))
	}
	prov := parseHeader(data)
	switch prov.Kind {
	case ProvenanceLive, ProvenanceRealTraffic, ProvenanceDocumented, ProvenanceDerived:
		if len(c.Interactions) == 0 {
			return nil, fmt.Errorf("conformance: cassettes/%s: provenance %s but no interaction", name, prov.Kind)
		}
	case ProvenanceRelayOnly:
		if len(c.Interactions) != 0 {
			return nil, fmt.Errorf("conformance: cassettes/%s: provenance relay-only but it has an interaction", name)
		}
	default:
		return nil, fmt.Errorf("conformance: cassettes/%s: header says provenance %q; want %s", name, prov.Kind, strings.Join(ProvenanceKinds, ", "))
	}
	if prov.Kind == ProvenanceDocumented && prov.URL == "" {
		return nil, fmt.Errorf("conformance: cassettes/%s: provenance documented without the documentation's address;"+
			" add a header line `# url: https://...` naming the vendor page whose example the cassette reproduces", name)
	}
	if prov.URL != "" {
		if err := checkDocURL(prov.URL); err != nil {
			return nil, fmt.Errorf("conformance: cassettes/%s: url %q: %w", name, prov.URL, err)
		}
	}
	return &cassetteFile{name: name, prov: prov, c: c, data: data}, nil
}

// ProvenanceKinds lists the provenance kinds, from the strongest evidence to none.
var ProvenanceKinds = []string{ProvenanceLive, ProvenanceRealTraffic, ProvenanceDocumented, ProvenanceDerived, ProvenanceRelayOnly}

// checkDocURL accepts an absolute http or https address of a documentation page.
func checkDocURL(s string) error {
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return err
	case u.Scheme != "https" && u.Scheme != "http":
		return errors.New("want an absolute http(s) address of the documentation page")
	case u.Host == "":
		return errors.New("no host")
	case strings.ContainsAny(s, " \t"):
		return errors.New("an address has no spaces (one address per url: line)")
	}
	return nil
}

// parseHeader reads the provenance from the comment lines at the top of a cassette:
//
//	# provenance: documented
//	# source: what the page is and which example (a few words)
//	# url: https://docs.example.com/page#example
//	#   a continuation line
//	# note: ...
func parseHeader(data []byte) Provenance {
	var p Provenance
	var last *string
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "#") {
			break
		}
		text := strings.TrimPrefix(line, "#")
		if strings.HasPrefix(text, "   ") && last != nil {
			*last += " " + strings.TrimSpace(text)
			continue
		}
		key, val, ok := strings.Cut(strings.TrimSpace(text), ": ")
		if !ok {
			last = nil
			continue
		}
		val = strings.TrimSpace(val)
		switch key {
		case "provenance":
			p.Kind, last = val, &p.Kind
		case "source":
			p.Source, last = val, &p.Source
		case "url":
			p.URL, last = val, &p.URL
		case "upstream":
			p.Upstream, last = val, &p.Upstream
		case "recorded":
			p.Recorded, last = val, &p.Recorded
		case "client-request":
			p.ClientRequest, last = val, &p.ClientRequest
		case "note":
			p.Notes = append(p.Notes, val)
			last = &p.Notes[len(p.Notes)-1]
		default:
			last = nil
		}
	}
	return p
}

// header renders the provenance as the comment block that starts a cassette.
func (p Provenance) header(providerType, caseName string) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "# ccrelay conformance cassette %s/%s (go-vcr v2, one interaction at most)\n", providerType, caseName)
	line := func(key, val string) {
		if val != "" {
			writeWrapped(&b, key, val)
		}
	}
	line("provenance", p.Kind)
	line("source", p.Source)
	line("url", p.URL)
	line("upstream", p.Upstream)
	line("recorded", p.Recorded)
	line("client-request", p.ClientRequest)
	for _, n := range p.Notes {
		line("note", n)
	}
	return b.Bytes()
}

// writeWrapped writes "# key: value", wrapping long values on continuation lines.
func writeWrapped(b *bytes.Buffer, key, val string) {
	const width = 100
	prefix := "# " + key + ": "
	col := len(prefix)
	b.WriteString(prefix)
	for i, w := range strings.Fields(val) {
		if i > 0 && col+1+len(w) > width {
			b.WriteString("\n#   ")
			col = 4
		} else if i > 0 {
			b.WriteByte(' ')
			col++
		}
		b.WriteString(w)
		col += len(w)
	}
	b.WriteByte('\n')
}

// encodeCassette renders a cassette file: the provenance header, then the go-vcr v2 YAML.
func encodeCassette(p Provenance, providerType, caseName string, ix []*cassette.Interaction) ([]byte, error) {
	c := cassette.New(caseName)
	c.Interactions = ix
	if c.Interactions == nil {
		c.Interactions = []*cassette.Interaction{}
	}
	var b bytes.Buffer
	b.Write(p.header(providerType, caseName))
	b.WriteString("---\n")
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(c); err != nil {
		return nil, fmt.Errorf("conformance: encode cassette %s/%s: %w", providerType, caseName, err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("conformance: encode cassette %s/%s: %w", providerType, caseName, err)
	}
	return b.Bytes(), nil
}

// isNotExist reports whether err says that a file does not exist.
func isNotExist(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, os.ErrNotExist)
}
