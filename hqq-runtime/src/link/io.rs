//! `std::io::Read` and `std::io::Write` for [`StandardLink`].
//!
//! A write sends one message of at most [`StandardLink::buffer_size`]
//! bytes and returns how many it took (so `write_all` splits long data into
//! several messages); a read returns one message, or as much of it as fits,
//! with the rest on the next read. Blocking honours the link's read and
//! write timeouts; timeouts surface as [`io::ErrorKind::TimedOut`] (or
//! [`io::ErrorKind::WouldBlock`] for a zero timeout). A link has no end of
//! stream: a read returns `Ok(0)` only for an empty buffer.

use std::io;

use super::standard::StandardLink;

impl io::Read for &StandardLink {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        Ok(self.recv(buf)?)
    }
}

impl io::Write for &StandardLink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = buf.len().min(self.buffer_size());
        match buf.get(..n) {
            Some(message) if n > 0 => {
                self.send(message)?;
                Ok(n)
            }
            _ => Ok(0),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl io::Read for StandardLink {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        (&*self).read(buf)
    }
}

impl io::Write for StandardLink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        (&*self).write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
