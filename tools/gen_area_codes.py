#!/usr/bin/env python3
"""Generate textgate's NANP area code (NPA) table from a pinned `phonenumbers`.

Usage:
    python3 tools/gen_area_codes.py > area_codes.tsv     # write the table
    python3 tools/gen_area_codes.py --check area_codes.tsv  # verify it

Output: `#` provenance/comment lines, then one line per NPA 200-999 that
phonenumbers knows about:

    NPA<TAB>REGION<TAB>ZONES<TAB>STATES

REGION  comma-separated ISO 3166 region codes (sorted) that
        phonenumbers.region_code_for_number() gives for valid numbers
        NPA-NXX-LLLL, NXX 200-999 (first valid of a few sample lines LLLL).
ZONES   sorted union of every IANA zone that phonenumbers' timezone map lists
        under any prefix starting with "1"+NPA (longer prefixes do not narrow
        it: numbers port).  Empty when only the bare country entry "1" applies
        (unknown), and always empty for toll-free NPAs.
STATES  sorted USPS codes (50 states, DC, territories) from phonenumbers'
        English geocoder descriptions under "1"+NPA ("Illinois",
        "Chicago, IL"), plus the territory's own code when REGION is a US
        territory (PR, VI, GU, AS, MP).  Empty for NPAs with no US region.

Requires Python 3.11+, the standard library and exactly PINNED_VERSION of
phonenumbers.  Output is deterministic (no timestamps) so --check is stable.
Exit codes: 0 ok / table equal; 1 --check found differences;
2 wrong phonenumbers version, usage or I/O error; 3 source data has a shape
this generator does not handle (inspect before bumping the pin).
"""

PINNED_PACKAGE = "phonenumbers"
PINNED_VERSION = "9.0.43"
GENERATOR_PATH = "tools/gen_area_codes.py"

import argparse
import difflib
import hashlib
import sys

# Toll-free NPAs: region US, zones empty by definition (not geographic).
TOLL_FREE_NPAS = ("800", "833", "844", "855", "866", "877", "888")

# Sample line numbers (last 4 digits) tried in turn for every NPA-NXX until
# one is valid.  A few Caribbean number patterns constrain the line digits
# (e.g. 246-522, 876-606 in 9.0.43), so one sample is not enough.
SAMPLE_LINES = ("0000", "1234", "5678", "9999")

# US regions (ISO 3166 code == USPS code) whose NPAs count as US for STATES.
US_TERRITORY_REGIONS = ("AS", "GU", "MP", "PR", "VI")
US_REGIONS = ("US",) + US_TERRITORY_REGIONS

# USPS codes: 50 states, DC, and the inhabited territories.
STATE_NAME_TO_USPS = {
    "Alabama": "AL", "Alaska": "AK", "Arizona": "AZ", "Arkansas": "AR",
    "California": "CA", "Colorado": "CO", "Connecticut": "CT",
    "Delaware": "DE", "Florida": "FL", "Georgia": "GA", "Hawaii": "HI",
    "Idaho": "ID", "Illinois": "IL", "Indiana": "IN", "Iowa": "IA",
    "Kansas": "KS", "Kentucky": "KY", "Louisiana": "LA", "Maine": "ME",
    "Maryland": "MD", "Massachusetts": "MA", "Michigan": "MI",
    "Minnesota": "MN", "Mississippi": "MS", "Missouri": "MO",
    "Montana": "MT", "Nebraska": "NE", "Nevada": "NV",
    "New Hampshire": "NH", "New Jersey": "NJ", "New Mexico": "NM",
    "New York": "NY", "North Carolina": "NC", "North Dakota": "ND",
    "Ohio": "OH", "Oklahoma": "OK", "Oregon": "OR", "Pennsylvania": "PA",
    "Rhode Island": "RI", "South Carolina": "SC", "South Dakota": "SD",
    "Tennessee": "TN", "Texas": "TX", "Utah": "UT", "Vermont": "VT",
    "Virginia": "VA", "Washington": "WA", "West Virginia": "WV",
    "Wisconsin": "WI", "Wyoming": "WY",
    "District of Columbia": "DC",
    "American Samoa": "AS", "Guam": "GU", "Northern Mariana Islands": "MP",
    "Puerto Rico": "PR", "U.S. Virgin Islands": "VI",
    "United States Virgin Islands": "VI", "US Virgin Islands": "VI",
}
# Spellings libphonenumber's geocoder uses for whole-NPA descriptions.
STATE_NAME_ALIASES = {
    "Washington D.C.": "DC",
    "Washington, D.C.": "DC",
    "Washington DC": "DC",
    "Washington State": "WA",
}
USPS_CODES = frozenset(STATE_NAME_TO_USPS.values())


def fail(code, msg):
    sys.stderr.write("gen_area_codes.py: %s\n" % msg)
    sys.exit(code)


def load_phonenumbers():
    """Import phonenumbers and refuse to go on unless it is the pinned one."""
    try:
        import phonenumbers
    except ImportError:
        fail(2, "%s is not installed; run: pip install %s==%s"
             % (PINNED_PACKAGE, PINNED_PACKAGE, PINNED_VERSION))
    try:
        from importlib.metadata import version
        installed = version(PINNED_PACKAGE)
    except Exception:
        installed = getattr(phonenumbers, "__version__", "unknown")
    module_version = getattr(phonenumbers, "__version__", installed)
    if installed != PINNED_VERSION or module_version != PINNED_VERSION:
        fail(2, "installed %s is %s (module reports %s), but this generator is "
             "pinned to %s==%s; run: pip install %s==%s (or bump "
             "PINNED_VERSION deliberately and regenerate)"
             % (PINNED_PACKAGE, installed, module_version, PINNED_PACKAGE,
                PINNED_VERSION, PINNED_PACKAGE, PINNED_VERSION))
    return phonenumbers


def fingerprint(entries):
    """sha256 over a canonical text form of (prefix, value) pairs."""
    h = hashlib.sha256()
    for key, value in entries:
        h.update(("%s\t%s\n" % (key, value)).encode("utf-8"))
    return h.hexdigest()


def tzdata_header_line(tzdata_module):
    """The copyright line the package keeps at the top of its tz data."""
    try:
        import inspect
        path = inspect.getsourcefile(tzdata_module)
        with open(path, encoding="utf-8") as f:
            for line in f:
                if line.startswith("# Copyright"):
                    return line[1:].strip()
    except Exception:
        pass
    return None


def states_from_description(desc):
    """USPS code for a geocoder description, or None if it names no US place."""
    desc = desc.strip()
    if desc in STATE_NAME_TO_USPS:
        return STATE_NAME_TO_USPS[desc]
    if desc in STATE_NAME_ALIASES:
        return STATE_NAME_ALIASES[desc]
    head, sep, tail = desc.rpartition(", ")
    if sep and len(tail) == 2 and tail.isupper() and tail in USPS_CODES:
        return tail
    return None


def build(pn):
    from phonenumbers import PhoneNumber
    from phonenumbers.geodata import GEOCODE_DATA
    import phonenumbers.tzdata as tzdata_module
    from phonenumbers.tzdata import TIMEZONE_DATA

    tz_keys = sorted(k for k in TIMEZONE_DATA if k.startswith("1"))
    geo_keys = sorted(k for k in GEOCODE_DATA if k.startswith("1"))
    # The method assumes NANP prefixes are either the bare country entry "1"
    # or at least "1"+NPA.  A "12"/"185"-style prefix would need a decision.
    odd = [k for k in tz_keys + geo_keys if 1 < len(k) < 4]
    if odd:
        fail(3, "prefixes shorter than 1+NPA in source data: %s" % odd[:10])

    rows = []
    warnings = []
    for npa_int in range(200, 1000):
        npa = str(npa_int)
        prefix = "1" + npa

        # REGION: what phonenumbers attributes valid numbers in this NPA to.
        regions = set()
        for nxx in range(200, 1000):
            for line in SAMPLE_LINES:
                num = PhoneNumber(country_code=1,
                                  national_number=int(npa + str(nxx) + line))
                if pn.is_valid_number(num):
                    region = pn.region_code_for_number(num)
                    if region:
                        regions.add(region)
                    break  # one valid line decides this NPA-NXX

        # ZONES: union over every prefix under 1+NPA.
        zones = set()
        for k in tz_keys:
            if k.startswith(prefix):
                zones.update(TIMEZONE_DATA[k])
        zones.discard("Etc/Unknown")

        # STATES: from English geocoder descriptions under 1+NPA.
        states = set()
        unmapped = set()
        for k in geo_keys:
            if k.startswith(prefix):
                desc = GEOCODE_DATA[k].get("en")
                if not desc:
                    continue
                code = states_from_description(desc)
                if code:
                    states.add(code)
                else:
                    unmapped.add(desc)

        if npa in TOLL_FREE_NPAS:
            regions = {"US"}
            zones = set()
            states = set()
        for r in regions:
            if r in US_TERRITORY_REGIONS:
                states.add(r)
        if states and regions and not regions & set(US_REGIONS):
            warnings.append("NPA %s (%s): dropped US states %s"
                            % (npa, ",".join(sorted(regions)),
                               ",".join(sorted(states))))
            states = set()
        if "US" in regions and unmapped and npa not in TOLL_FREE_NPAS:
            warnings.append("NPA %s (US): unmapped geocoder descriptions: %s"
                            % (npa, "; ".join(sorted(unmapped))))

        if not (regions or zones or states):
            continue
        rows.append("\t".join([npa, ",".join(sorted(regions)),
                               ",".join(sorted(zones)),
                               ",".join(sorted(states))]))

    tz_header = tzdata_header_line(tzdata_module)
    tz_fp = fingerprint((k, ",".join(TIMEZONE_DATA[k])) for k in tz_keys)
    geo_fp = fingerprint((k, GEOCODE_DATA[k].get("en", "")) for k in geo_keys)
    header = [
        "# NANP area code (NPA) table for textgate. GENERATED - do not edit.",
        "# generator: %s" % GENERATOR_PATH,
        "# regenerate: python3 %s > <this file>; verify: python3 %s --check "
        "<this file>" % (GENERATOR_PATH, GENERATOR_PATH),
        "# source: PyPI package %s==%s (Python port of Google libphonenumber)"
        % (PINNED_PACKAGE, PINNED_VERSION),
        "# timezone data header: %s" % (
            tz_header + " (phonenumbers/tzdata; the upstream map_data.txt "
            "header is not shipped)" if tz_header else
            "not accessible in the installed package"),
        "# timezone data: phonenumbers.tzdata.TIMEZONE_DATA, %d prefixes under"
        " '1', sha256 %s" % (len(tz_keys), tz_fp),
        "# geocoder data: phonenumbers.geodata.GEOCODE_DATA ['en'], %d "
        "prefixes under '1', sha256 %s" % (len(geo_keys), geo_fp),
        "# method: REGION = sorted set of region_code_for_number() over valid "
        "numbers NPA-NXX-LLLL, NXX 200-999, first valid LLLL of %s;"
        % ",".join(SAMPLE_LINES),
        "#   ZONES = sorted union of zones under every tz prefix starting with "
        "'1'+NPA (longer prefixes do not narrow; bare '1' alone = empty);",
        "#   STATES = USPS codes from geocoder 'en' descriptions under '1'+NPA "
        "(state names, 'City, XX'), plus the region's own code for US "
        "territories %s; empty when no US region;" % ",".join(
            US_TERRITORY_REGIONS),
        "#   toll-free %s: REGION US, ZONES and STATES empty; NPAs with no "
        "region, zone or state are omitted." % ",".join(TOLL_FREE_NPAS),
        "# columns: NPA<TAB>REGION<TAB>ZONES<TAB>STATES (lists comma-separated;"
        " empty = unknown/none)",
    ]
    return "\n".join(header + rows) + "\n", warnings


def main(argv=None):
    parser = argparse.ArgumentParser(
        description="Generate (or --check) the NANP area code table from %s==%s."
        % (PINNED_PACKAGE, PINNED_VERSION))
    parser.add_argument("--check", metavar="FILE",
                        help="regenerate and compare with FILE byte for byte")
    args = parser.parse_args(argv)

    pn = load_phonenumbers()
    text, warnings = build(pn)
    for w in warnings:
        sys.stderr.write("gen_area_codes.py: warning: %s\n" % w)
    data = text.encode("utf-8")

    if args.check is None:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return 0

    try:
        with open(args.check, "rb") as f:
            existing = f.read()
    except OSError as e:
        fail(2, "cannot read %s: %s" % (args.check, e))
    if existing == data:
        print("%s is up to date (%s==%s)" % (args.check, PINNED_PACKAGE,
                                             PINNED_VERSION))
        return 0

    old = existing.decode("utf-8", errors="replace").splitlines(keepends=True)
    new = text.splitlines(keepends=True)
    diff = list(difflib.unified_diff(old, new, fromfile=args.check,
                                     tofile="regenerated"))
    added = sum(1 for l in diff if l.startswith("+") and not l.startswith("+++"))
    removed = sum(1 for l in diff if l.startswith("-") and not l.startswith("---"))
    limit = 80
    sys.stdout.write("".join(diff[:limit]))
    if diff and not diff[-1].endswith("\n"):
        sys.stdout.write("\n")
    if len(diff) > limit:
        sys.stdout.write("... (%d more diff lines)\n" % (len(diff) - limit))
    if not diff:
        sys.stdout.write("(files differ only in bytes that do not show as "
                         "line changes, e.g. line endings or encoding)\n")
    sys.stdout.write("%s is out of date: %d line(s) removed, %d added; "
                     "regenerate with: python3 %s > %s\n"
                     % (args.check, removed, added, GENERATOR_PATH, args.check))
    return 1


if __name__ == "__main__":
    sys.exit(main())
