//! Named and anonymous segments against the real `/dev/shm`.

mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::sync::atomic::Ordering;

use hqq_runtime::segment::{
    list_segment_names, peek_header, Segment, SegmentAnonymousError, SegmentCreateError,
    SegmentNameError, SegmentOpenError, SegmentOptions, SegmentPeekError, SegmentUnlinkError,
    SEGMENT_DIR,
};
use support::unique_segment_name;

const PAGE: usize = 4096;

fn path_of(name: &str) -> PathBuf {
    PathBuf::from(SEGMENT_DIR).join(name)
}

fn create(name: &str, len: usize) -> Segment {
    Segment::create(name, len, &SegmentOptions::new()).expect("create segment")
}

#[test]
fn create_and_open_share_memory() {
    let name = unique_segment_name("roundtrip");
    let created = create(&name, 2 * PAGE);
    assert!(created.is_creator());
    assert_eq!(created.name(), Some(name.as_str()));
    assert_eq!(created.len(), 2 * PAGE);

    let opened = Segment::open(&name, PAGE).expect("open");
    assert!(!opened.is_creator());
    assert_eq!(opened.len(), 2 * PAGE, "open maps the whole segment");
    assert_ne!(created.as_ptr(), opened.as_ptr(), "two distinct mappings");

    // Fresh segments are zero-filled.
    assert_eq!(opened.atomic_u64(PAGE).unwrap().load(Ordering::Relaxed), 0);
    // Atomic word written through one mapping, read through the other.
    created
        .atomic_u64(8)
        .unwrap()
        .store(0x4851_515f_5354_4c31, Ordering::Release);
    assert_eq!(
        opened.atomic_u64(8).unwrap().load(Ordering::Acquire),
        0x4851_515f_5354_4c31
    );
    // Raw bytes, the last ones of the segment, the other way round.
    let bytes = *b"the end!";
    // SAFETY: the 8 bytes at `len - 8` lie inside the mapping and nobody else
    // accesses them concurrently.
    unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), opened.as_ptr().add(2 * PAGE - 8), 8) };
    let mut back = [0u8; 8];
    // SAFETY: as above, through the creator's mapping.
    unsafe {
        std::ptr::copy_nonoverlapping(created.as_ptr().add(2 * PAGE - 8), back.as_mut_ptr(), 8)
    };
    assert_eq!(back, bytes);
}

#[test]
fn atomic_words_are_bounds_and_alignment_checked() {
    let segment = Segment::anonymous(PAGE).expect("anonymous");
    assert!(segment.atomic_u32(PAGE - 4).is_some());
    assert!(segment.atomic_u32(PAGE - 3).is_none(), "out of bounds");
    assert!(segment.atomic_u32(PAGE).is_none());
    assert!(segment.atomic_u32(2).is_none(), "misaligned");
    assert!(segment.atomic_u32(usize::MAX - 1).is_none(), "overflow");
    assert!(segment.atomic_u64(PAGE - 8).is_some());
    assert!(segment.atomic_u64(4).is_none(), "misaligned");
    assert!(segment.atomic_u64(PAGE - 4).is_none());
}

#[test]
fn create_is_exclusive() {
    let name = unique_segment_name("exclusive");
    let _first = create(&name, PAGE);
    let second = Segment::create(&name, PAGE, &SegmentOptions::new());
    assert!(
        matches!(&second, Err(SegmentCreateError::AlreadyExists { name: n }) if *n == name),
        "{second:?}"
    );
    // The failed attempt must not have removed the first creator's name.
    assert!(path_of(&name).exists());
}

#[test]
fn invalid_names_are_rejected_everywhere() {
    let too_long = "x".repeat(254);
    for (name, expected) in [
        ("", SegmentNameError::Empty),
        (
            "a/b",
            SegmentNameError::InvalidChar {
                found: '/',
                index: 1,
            },
        ),
        (
            "nul\0",
            SegmentNameError::InvalidChar {
                found: '\0',
                index: 3,
            },
        ),
        ("..", SegmentNameError::DotName),
        (
            too_long.as_str(),
            SegmentNameError::TooLong { len: 254, max: 253 },
        ),
    ] {
        match Segment::create(name, PAGE, &SegmentOptions::new()) {
            Err(SegmentCreateError::InvalidName(e)) => assert_eq!(e, expected, "{name:?}"),
            other => panic!("create {name:?}: {other:?}"),
        }
        match Segment::open(name, PAGE) {
            Err(SegmentOpenError::InvalidName(e)) => assert_eq!(e, expected, "{name:?}"),
            other => panic!("open {name:?}: {other:?}"),
        }
        match peek_header(name) {
            Err(SegmentPeekError::InvalidName(e)) => assert_eq!(e, expected, "{name:?}"),
            other => panic!("peek {name:?}: {other:?}"),
        }
    }
}

#[test]
fn the_longest_valid_name_works() {
    let prefix = unique_segment_name("long");
    let name = format!("{prefix}{}", "x".repeat(253 - prefix.len()));
    assert_eq!(name.len(), 253);
    let segment = create(&name, PAGE);
    assert!(path_of(&name).exists());
    drop(segment);
    assert!(!path_of(&name).exists());
}

#[test]
fn missing_segment_is_not_found() {
    let name = unique_segment_name("missing");
    let opened = Segment::open(&name, PAGE);
    assert!(
        matches!(&opened, Err(SegmentOpenError::NotFound { name: n }) if *n == name),
        "{opened:?}"
    );
    let peeked = peek_header(&name);
    assert!(
        matches!(peeked, Err(SegmentPeekError::NotFound { .. })),
        "{peeked:?}"
    );
}

#[test]
fn open_rejects_a_segment_that_is_too_small() {
    let name = unique_segment_name("small");
    let _segment = create(&name, PAGE);
    let opened = Segment::open(&name, PAGE + 1);
    assert!(
        matches!(
            opened,
            Err(SegmentOpenError::TooSmall {
                len: 4096,
                required: 4097,
                ..
            })
        ),
        "{opened:?}"
    );
    assert!(Segment::open(&name, PAGE).is_ok());
    assert!(Segment::open(&name, 0).is_ok());
}

#[test]
fn zero_lengths_are_rejected() {
    let name = unique_segment_name("zero");
    assert!(matches!(
        Segment::create(&name, 0, &SegmentOptions::new()),
        Err(SegmentCreateError::ZeroLength)
    ));
    assert!(!path_of(&name).exists());
    assert!(matches!(
        Segment::anonymous(0),
        Err(SegmentAnonymousError::ZeroLength)
    ));
}

#[test]
fn default_mode_is_0600_and_custom_modes_ignore_the_umask() {
    let name = unique_segment_name("mode");
    let _default = create(&name, PAGE);
    let mode = std::fs::metadata(path_of(&name))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "mode {mode:o}");

    // 0666 would be cut to 0644 by the usual umask 022 if it were not applied
    // exactly.
    let name = unique_segment_name("mode666");
    let _custom = Segment::create(&name, PAGE, SegmentOptions::new().mode(0o666)).unwrap();
    let mode = std::fs::metadata(path_of(&name))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o666, "mode {mode:o}");
}

#[test]
fn creator_unlinks_on_drop_unless_kept() {
    let name = unique_segment_name("drop");
    let segment = create(&name, PAGE);
    assert!(!segment.keep_on_drop());
    let opener = Segment::open(&name, PAGE).unwrap();
    assert!(
        opener.keep_on_drop(),
        "an opener never removes the name by default"
    );
    drop(opener);
    assert!(path_of(&name).exists());
    drop(segment);
    assert!(!path_of(&name).exists());

    let name = unique_segment_name("keep");
    let kept = Segment::create(&name, PAGE, SegmentOptions::new().keep_on_drop(true)).unwrap();
    assert!(kept.keep_on_drop());
    drop(kept);
    assert!(path_of(&name).exists());
    // Clean up: an opener takes over removing the name.
    let mut opener = Segment::open(&name, PAGE).unwrap();
    opener.set_keep_on_drop(false);
    drop(opener);
    assert!(!path_of(&name).exists());
}

#[test]
fn explicit_unlink_keeps_the_mapping() {
    let name = unique_segment_name("unlink");
    let mut segment = create(&name, PAGE);
    let word = segment.atomic_u32(0).unwrap() as *const _;
    segment.unlink().expect("unlink");
    assert!(!path_of(&name).exists());
    assert!(matches!(
        Segment::open(&name, PAGE),
        Err(SegmentOpenError::NotFound { .. })
    ));
    // The memory is still mapped and usable.
    segment.atomic_u32(0).unwrap().store(7, Ordering::Relaxed);
    assert_eq!(
        segment.atomic_u32(0).unwrap() as *const _,
        word,
        "same mapping"
    );
    assert_eq!(segment.atomic_u32(0).unwrap().load(Ordering::Relaxed), 7);
    // A second unlink finds nothing to remove.
    assert!(matches!(
        segment.unlink(),
        Err(SegmentUnlinkError::NotFound { .. })
    ));
}

#[test]
fn anonymous_segments_are_page_aligned_zeroed_and_nameless() {
    let mut segment = Segment::anonymous(3 * PAGE + 1).expect("anonymous");
    assert_eq!(segment.as_ptr() as usize % PAGE, 0);
    assert_eq!(segment.len(), 3 * PAGE + 1);
    assert_eq!(segment.name(), None);
    assert!(segment.is_creator());
    assert!(segment.keep_on_drop());
    segment.set_keep_on_drop(false);
    assert!(segment.keep_on_drop(), "nothing to unlink");
    assert!(segment.unlink().is_ok());
    for offset in (0..3 * PAGE).step_by(PAGE / 2) {
        assert_eq!(
            segment.atomic_u64(offset).unwrap().load(Ordering::Relaxed),
            0
        );
    }
}

#[test]
fn list_and_peek_see_a_segment_without_mapping_it() {
    let name = unique_segment_name("peek");
    let segment = create(&name, PAGE);
    let header: [u64; 8] = std::array::from_fn(|i| 0x4851_515f_5354_4c31 + i as u64);
    for (i, word) in header.iter().enumerate() {
        segment
            .atomic_u64(i * 8)
            .unwrap()
            .store(*word, Ordering::Release);
    }
    assert!(list_segment_names().unwrap().contains(&name));
    assert_eq!(peek_header(&name).unwrap(), header);
    drop(segment);
    assert!(!list_segment_names().unwrap().contains(&name));

    let name = unique_segment_name("tiny");
    let _tiny = create(&name, 63);
    let peeked = peek_header(&name);
    assert!(
        matches!(peeked, Err(SegmentPeekError::TooSmall { len: 63, .. })),
        "{peeked:?}"
    );
}

/// Asks for more than the whole `/dev/shm` file system holds. tmpfs rejects
/// such a `fallocate` before allocating anything, so this is safe to run.
#[test]
fn create_reports_no_space_without_allocating() {
    let mut stat = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: the path is a NUL-terminated literal and `stat` is writable
    // memory for one statvfs.
    let rc = unsafe { libc::statvfs(c"/dev/shm".as_ptr(), stat.as_mut_ptr()) };
    assert_eq!(rc, 0, "statvfs /dev/shm");
    // SAFETY: statvfs returned 0, so it filled in `stat`.
    let stat = unsafe { stat.assume_init() };
    let total = stat.f_blocks * stat.f_frsize;
    if total == 0 {
        // An unlimited tmpfs reports no size: asking for "more than all of
        // it" would really allocate, so there is nothing safe to test.
        println!("skipped: /dev/shm has no size limit");
        return;
    }
    let requested = usize::try_from(total).unwrap() + 16 * PAGE;
    let name = unique_segment_name("nospace");
    let created = Segment::create(&name, requested, &SegmentOptions::new());
    match &created {
        Err(
            e @ SegmentCreateError::NoSpace {
                requested: r,
                available,
                ..
            },
        ) => {
            assert_eq!(*r, requested as u64);
            assert!(*available < *r, "{e}");
            let message = e.to_string();
            assert!(message.contains(&requested.to_string()), "{message}");
            println!("{message}");
        }
        other => panic!("expected NoSpace, got {other:?}"),
    }
    assert!(
        !path_of(&name).exists(),
        "the half-made segment was removed"
    );
}
