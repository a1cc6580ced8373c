package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// This file reads and writes Claude Code's settings file (~/.claude/settings.json) for
// `ccrelay cc`. It keeps every key of the file, in its order, with its value as written: the
// file is read as an ordered list of top-level members whose values stay raw JSON, and only
// the members of "env" that ccrelay sets are replaced or added (an added one goes last). The
// file is written back indented by two spaces, as Claude Code writes it, so a file Claude
// Code wrote comes back byte for byte apart from what changed; a file laid out by hand gets
// that indentation.

// member is one member of a JSON object: its key and its value as raw JSON.
type member struct {
	key   string
	value json.RawMessage
}

// object is a JSON object as an ordered list of members (duplicate keys kept, as written).
type object []member

// get returns the value of the last member named key (JSON.parse, as Claude Code reads the
// file, keeps the last), or nil.
func (o object) get(key string) json.RawMessage {
	for i := len(o) - 1; i >= 0; i-- {
		if o[i].key == key {
			return o[i].value
		}
	}
	return nil
}

// set gives every member named key the value v, or appends a member when there is none.
func (o object) set(key string, v json.RawMessage) object {
	found := false
	for i := range o {
		if o[i].key == key {
			o[i].value, found = v, true
		}
	}
	if !found {
		o = append(o, member{key, v})
	}
	return o
}

// del removes every member named key.
func (o object) del(key string) object {
	out := o[:0]
	for _, m := range o {
		if m.key != key {
			out = append(out, m)
		}
	}
	return out
}

// parseObject reads a JSON object, keeping its members' order and raw values. Anything else
// (invalid JSON, an array, trailing data) is an error.
func parseObject(data []byte) (object, error) {
	if !json.Valid(data) {
		var v any
		err := json.Unmarshal(data, &v)
		if err == nil {
			err = errors.New("invalid JSON")
		}
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, errors.New("not a JSON object")
	}
	o := object{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		key, _ := tok.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, err
		}
		o = append(o, member{key, v})
	}
	if _, err := dec.Token(); err != nil {
		return nil, err
	}
	return o, nil
}

// encode renders the object indented by two spaces after prefix (the indentation of the
// line it starts on), with raw values re-indented to match.
func (o object) encode(prefix string) []byte {
	if len(o) == 0 {
		return []byte("{}")
	}
	var b bytes.Buffer
	b.WriteString("{\n")
	for i, m := range o {
		b.WriteString(prefix + "  ")
		b.Write(jsonString(m.key))
		b.WriteString(": ")
		var v bytes.Buffer
		if err := json.Indent(&v, m.value, prefix+"  ", "  "); err != nil {
			b.Write(m.value) // cannot happen: values come from a valid document
		} else {
			b.Write(v.Bytes())
		}
		if i < len(o)-1 {
			b.WriteByte(',')
		}
		b.WriteByte('\n')
	}
	b.WriteString(prefix + "}")
	return b.Bytes()
}

// jsonString encodes s as a JSON string without HTML escaping (as JSON.stringify would).
func jsonString(s string) json.RawMessage {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.Encode(s)
	return bytes.TrimRight(b.Bytes(), "\n")
}

// stringValue returns the string a raw JSON value holds, and whether it is a string.
func stringValue(v json.RawMessage) (string, bool) {
	var s string
	if v == nil || json.Unmarshal(v, &s) != nil {
		return "", false
	}
	return s, true
}

// settingsFile is Claude Code's settings file, read.
type settingsFile struct {
	path   string
	exists bool
	mode   os.FileMode
	raw    []byte
	top    object
	// env is the "env" member, nil when the file has none.
	env object
}

// defaultSettingsPath is where Claude Code reads its user settings: settings.json in
// $CLAUDE_CONFIG_DIR when it is set (Claude Code moves its whole configuration directory
// there), else in ~/.claude.
func defaultSettingsPath(getenv func(string) string) (string, error) {
	if d := getenv("CLAUDE_CONFIG_DIR"); d != "" {
		return filepath.Join(d, "settings.json"), nil
	}
	home := getenv("HOME")
	if home == "" {
		h, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("no home directory to find ~/.claude/settings.json in (give --settings PATH): %w", err)
		}
		home = h
	}
	return filepath.Join(home, ".claude", "settings.json"), nil
}

// readSettings reads the settings file at path. A missing or empty file is an empty object;
// a file that is not a JSON object, or whose env is not an object, is an error that says so
// (and nothing is changed).
func readSettings(path string) (*settingsFile, error) {
	s := &settingsFile{path: path, mode: 0o600, top: object{}}
	data, err := os.ReadFile(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return s, nil
	case err != nil:
		return nil, err
	}
	s.exists, s.raw = true, data
	if fi, err := os.Stat(path); err == nil {
		s.mode = fi.Mode().Perm()
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return s, nil
	}
	if s.top, err = parseObject(data); err != nil {
		return nil, fmt.Errorf("%s is not a JSON object (%v); fix it or move it away first: nothing was changed", path, err)
	}
	if raw := s.top.get("env"); raw != nil {
		if s.env, err = parseObject(raw); err != nil {
			return nil, fmt.Errorf("%s: \"env\" is not a JSON object (%v); fix it first: nothing was changed", path, err)
		}
		for _, m := range s.env {
			if _, ok := stringValue(m.value); !ok {
				return nil, fmt.Errorf("%s: env.%s is not a string (Claude Code's env values are strings); fix it first: nothing was changed", path, m.key)
			}
		}
	}
	return s, nil
}

// envValue returns env[key] and whether it is set.
func (s *settingsFile) envValue(key string) (string, bool) {
	return stringValue(s.env.get(key))
}

// setEnv sets env[key] (creating env when the file has none).
func (s *settingsFile) setEnv(key, value string) {
	s.env = s.env.set(key, jsonString(value))
}

// delEnv removes env[key].
func (s *settingsFile) delEnv(key string) { s.env = s.env.del(key) }

// bytes renders the file: every top-level member as it was, env as it is now (dropped when
// dropEnv, which remove uses when ccrelay created an env that is now empty).
func (s *settingsFile) bytes(dropEnv bool) []byte {
	top := append(object(nil), s.top...)
	switch {
	case dropEnv:
		top = top.del("env")
	case s.env != nil:
		top = top.set("env", s.env.encode("  "))
	}
	out := top.encode("")
	if !s.exists || len(s.raw) == 0 || bytes.HasSuffix(s.raw, []byte("\n")) {
		out = append(out, '\n') // Claude Code writes none; keep the file's own habit
	}
	return out
}

// write replaces the file atomically (a temporary file in the same directory, renamed),
// with the mode the file had (0600 for a new file: it may hold a token), creating the
// directory when needed.
func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Chmod(mode)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
}

// backup copies the file as it is now to <path>.bak-<UTC time> (a -N suffix when that name is
// taken) and returns the copy's path; "" when the file does not exist.
func (s *settingsFile) backup(stamp string) (string, error) {
	if !s.exists {
		return "", nil
	}
	name := s.path + ".bak-" + stamp
	for i := 1; ; i++ {
		f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, s.mode)
		if errors.Is(err, os.ErrExist) {
			name = fmt.Sprintf("%s.bak-%s-%d", s.path, stamp, i)
			continue
		}
		if err != nil {
			return "", fmt.Errorf("back up %s: %w", s.path, err)
		}
		_, err = io.Copy(f, bytes.NewReader(s.raw))
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			os.Remove(name)
			return "", fmt.Errorf("back up %s: %w", s.path, err)
		}
		return name, nil
	}
}

// secretish reports whether an env key holds a credential, to show it masked.
func secretish(key string) bool {
	return strings.Contains(key, "TOKEN") || strings.Contains(key, "KEY") || strings.Contains(key, "SECRET")
}

// shown is a value as ccrelay prints it: credentials masked but for their length and ends.
func shown(key, value string) string {
	if !secretish(key) {
		return value
	}
	if len(value) <= 8 {
		return strings.Repeat("*", len(value))
	}
	return value[:3] + "…" + value[len(value)-2:] + fmt.Sprintf(" (%d characters)", len(value))
}
