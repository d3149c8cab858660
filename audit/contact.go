package audit

// SplitContacts splits an inventory contact field into its addresses,
// untrimmed: they are separated by ';' or ',' outside quotes and angle
// brackets, so `"Doe, Jane" <jane@x.example>; ops@x.example` is two.
func SplitContacts(s string) []string {
	var parts []string
	inQ, inA, start := false, false, 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"':
			inQ = !inQ
		case c == '<' && !inQ:
			inA = true
		case c == '>' && !inQ:
			inA = false
		case (c == ';' || c == ',') && !inQ && !inA:
			parts = append(parts, s[start:i])
			start = i + 1
		}
	}
	return append(parts, s[start:])
}
