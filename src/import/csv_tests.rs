use super::*;

/// A record as read: Ok((line, fields)) or Err((line, reason)).
type Got = Result<(u64, Vec<String>), (u64, String)>;

/// Every record of `text`.
fn read(text: &[u8]) -> Vec<Got> {
    let mut reader = Reader::new(text);
    let mut out = Vec::new();
    while let Some(r) = reader.next_record().expect("in-memory reads do not fail") {
        out.push(r.map(|r| (r.line, r.fields)).map_err(|u| (u.line, u.reason)));
    }
    assert_eq!(reader.bytes, text.len() as u64, "every byte is counted");
    out
}

fn ok(line: u64, fields: &[&str]) -> Got {
    Ok((line, fields.iter().map(|f| f.to_string()).collect()))
}

#[test]
fn records_fields_and_line_numbers() {
    let cases: Vec<(&str, &[u8], Vec<Got>)> = vec![
        ("plain", b"a,b,c\n1,2,3\n", vec![ok(1, &["a", "b", "c"]), ok(2, &["1", "2", "3"])]),
        ("no final newline", b"a,b\n1,2", vec![ok(1, &["a", "b"]), ok(2, &["1", "2"])]),
        ("CRLF", b"a,b\r\n1,2\r\n", vec![ok(1, &["a", "b"]), ok(2, &["1", "2"])]),
        ("BOM", b"\xEF\xBB\xBFa,b\n1,2\n", vec![ok(1, &["a", "b"]), ok(2, &["1", "2"])]),
        ("BOM only at the start", b"a\n\xEF\xBB\xBFb\n", vec![ok(1, &["a"]), ok(2, &["\u{feff}b"])]),
        ("empty lines skipped", b"\na\n\r\n\nb\n\n", vec![ok(2, &["a"]), ok(5, &["b"])]),
        ("empty fields", b",a,,\n", vec![ok(1, &["", "a", "", ""])]),
        ("quoted comma", b"\"a,b\",c\n", vec![ok(1, &["a,b", "c"])]),
        ("doubled quote", b"\"say \"\"STOP\"\"\",x\n", vec![ok(1, &["say \"STOP\"", "x"])]),
        ("empty quoted", b"\"\",x\n", vec![ok(1, &["", "x"])]),
        ("line break in quotes", b"\"a\nb\",c\nnext\n", vec![ok(1, &["a\nb", "c"]), ok(3, &["next"])]),
        ("CRLF in quotes", b"\"a\r\nb\"\r\nn\r\n", vec![ok(1, &["a\r\nb"]), ok(3, &["n"])]),
        ("UTF-8", "caf\u{e9},\u{1f600}\n".as_bytes(), vec![ok(1, &["caf\u{e9}", "\u{1f600}"])]),
        (
            "text after a closing quote, then on",
            b"\"a\"b,c\nok\n",
            vec![Err((1, "after a closing quote".into())), ok(2, &["ok"])],
        ),
        ("stray quote", b"a\"b\nok\n", vec![Err((1, "quote inside an unquoted".into())), ok(2, &["ok"])]),
        ("open quote at the end", b"ok\n\"a,b\nc\n", vec![ok(1, &["ok"]), Err((2, "not closed".into()))]),
        ("not UTF-8", b"\xff\xfe,a\nok\n", vec![Err((1, "not UTF-8".into())), ok(2, &["ok"])]),
    ];
    for (name, text, want) in cases {
        let got = read(text);
        assert_eq!(got.len(), want.len(), "{name}: {got:?}");
        for (g, w) in got.iter().zip(&want) {
            match (g, w) {
                (Err((gl, gr)), Err((wl, wr))) => assert!(gl == wl && gr.contains(wr.as_str()), "{name}: {g:?}"),
                _ => assert_eq!(g, w, "{name}"),
            }
        }
    }
}

#[test]
fn an_overlong_record_is_refused_and_reading_goes_on() {
    let mut text = b"a\n".to_vec();
    text.extend(std::iter::repeat_n(b'x', MAX_RECORD_BYTES + 10));
    text.extend(b"\nb\n");
    let got = read(&text);
    assert_eq!(got[0], ok(1, &["a"]));
    assert!(matches!(&got[1], Err((2, r)) if r.contains("longer than")), "{:?}", got[1]);
    assert_eq!(got[2], ok(3, &["b"]));
    assert_eq!(got.len(), 3);
}
