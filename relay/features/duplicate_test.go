package features

import "testing"

func TestDetectFindsTheFirstDuplicatedTopLevelKey(t *testing.T) {
	tests := []struct {
		name, body, want string
	}{
		{"no duplicate", `{"model":"a","stream":true,"messages":[]}`, ""},
		{"two models", `{"model":"a","messages":[],"model":"b"}`, "model"},
		{"two streams", `{"stream":false,"model":"a","stream":true,"messages":[]}`, "stream"},
		{"a null counts", `{"model":"a","metadata":null,"metadata":{"user_id":"x"},"messages":[]}`, "metadata"},
		{"an unknown key twice", `{"model":"a","x_extra":1,"messages":[],"x_extra":2}`, "x_extra"},
		{"the first duplicate wins", `{"model":"a","stream":true,"model":"b","stream":false}`, "model"},
		{"nested repeats are not top-level", `{"model":"a","messages":[{"role":"user","content":"x"},{"role":"user","content":"y"}]}`, ""},
		{"an escaped key equal to a known one", `{"model":"a","mod\u0065l":"b","messages":[]}`, "model"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for name, detect := range map[string]func([]byte, []string) Usage{"Detect": Detect, "DetectTop": DetectTop} {
				if got := detect([]byte(tt.body), nil).Duplicate; got != tt.want {
					t.Errorf("%s: Duplicate = %q, want %q", name, got, tt.want)
				}
			}
		})
	}
}
