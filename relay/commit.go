package relay

import "strings"

// commit is the one point after which the relay never fails over: the answer of u — a
// response to relay, or its error answer — goes to the client, and no other candidate will be
// tried. It ends the attempt log (the pending failover warning says who answered), records
// the attempt, and writes the relay's headers: which provider answered, the attempts and what
// failed before, and what was changed in the request (x-ccrelay-degraded, counted on the
// provider and logged). After it, a broken stream can only end with an Anthropic error event
// (stream.go). a is nil for an answer no upstream call made (the relay's own estimate).
func (r *Relay) commit(w *recorder, u *upstream, a *Attempt, notes []string, log *attemptLog) {
	r.warnPending(log, "answered by "+u.cfg.Name)
	if a != nil {
		log.attempts = append(log.attempts, *a)
	}
	h := w.Header()
	h.Set(hdrProvider, u.cfg.Name)
	h.Set(hdrAttempts, attemptsHeader(log.n, log.reasons, r.cfg.Routing.Debug))
	w.failed = strings.Join(log.reasons, ",")
	w.notes = notes
	if len(notes) > 0 {
		joined := strings.Join(notes, "; ")
		h.Set(hdrDegraded, joined)
		u.count(notes...)
		r.log.Info("degraded", "provider", u.cfg.Name, "notes", joined)
	}
	w.committed = true
}
