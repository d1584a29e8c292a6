//! runtools: the small programs of perp's runtools suite (runtools_intro(8)), each a library
//! module with a thin binary, plus the shared pieces: option/exit handling (`tool`), running
//! the program (`run`, over `platform::exec`'s lookup), line files (`lines`), environments
//! (`env`), limits (`limits`), locks (`pidlock`), descriptor sets (`fdset`), supervision
//! (`supervise`). Every system call goes through `platform`: no unsafe code here.

#![forbid(unsafe_code)]

pub mod cat;
pub mod env;
pub mod fdset;
pub mod limits;
pub mod lines;
pub mod pidlock;
pub mod run;
pub mod runargs;
pub mod runargv0;
pub mod runchoom;
pub mod rundetach;
pub mod rundeux;
pub mod runenv;
pub mod runfile;
pub mod runlimit;
pub mod runlock;
pub mod runpause;
pub mod runsession;
pub mod runtool;
pub mod runtrap;
pub mod runuid;
pub mod supervise;
pub mod tool;
