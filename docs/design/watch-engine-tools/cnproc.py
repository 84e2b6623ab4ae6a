#!/usr/bin/env python3
"""Proc connector probe: bind NETLINK_CONNECTOR group CN_IDX_PROC, send PROC_CN_MCAST_LISTEN, count events for N seconds."""
import socket, struct, os, sys, time, errno, select
NETLINK_CONNECTOR=11; CN_IDX_PROC=1; CN_VAL_PROC=1; PROC_CN_MCAST_LISTEN=1
dur=float(sys.argv[1]) if len(sys.argv)>1 else 2
print("uid",os.getuid())
try:
    s=socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, NETLINK_CONNECTOR)
except OSError as e:
    print("socket:",e); sys.exit(0)
try:
    s.bind((os.getpid(), CN_IDX_PROC)); print("bind group CN_IDX_PROC: ok")
except OSError as e:
    print("bind group CN_IDX_PROC:",e)
    try: s.bind((os.getpid(),0)); print("bind without group ok")
    except OSError as e2: print("bind0",e2)
    try: s.setsockopt(270,1,CN_IDX_PROC); print("ADD_MEMBERSHIP ok")
    except OSError as e3: print("ADD_MEMBERSHIP:",e3)
# cn_msg: idx,val,seq,ack,len,flags + op
payload=struct.pack("=I",PROC_CN_MCAST_LISTEN)
cn=struct.pack("=IIIIHH",CN_IDX_PROC,CN_VAL_PROC,0,0,len(payload),0)+payload
nl=struct.pack("=IHHII",16+len(cn),3,0,0,os.getpid())+cn  # NLMSG_DONE type
try: s.send(nl); print("send MCAST_LISTEN: ok")
except OSError as e: print("send MCAST_LISTEN:",e)
counts={}; t0=time.time(); errs=0
names={0:"NONE",1:"FORK",2:"EXEC",4:"UID",0x40:"GID",0x80:"SID",0x100:"PTRACE",0x200:"COMM",0x400:"COREDUMP",0x80000000:"EXIT"}
while time.time()-t0<dur:
    r,_,_=select.select([s],[],[],0.1)
    if not r: continue
    try: d=s.recv(65536)
    except OSError as e: errs+=1; print("recv",e); continue
    off=0
    while off+16<=len(d):
        ln,ty,fl,sq,pid=struct.unpack_from("=IHHII",d,off)
        cidx,cval,cseq,cack,clen,cfl=struct.unpack_from("=IIIIHH",d,off+16)
        body=d[off+36:off+36+clen]
        if len(body)>=4:
            what=struct.unpack_from("=I",body)[0]
            if what==0 and len(body)>=20:
                # ack for listen: err in proc_event? ack field
                counts["ACK(err=%d)"%struct.unpack_from("=I",body,16)[0]]=counts.get("ACK",0)+1
            else:
                counts[names.get(what,hex(what))]=counts.get(names.get(what,hex(what)),0)+1
        if ln==0: break
        off+=(ln+3)&~3
print("events in %.1fs:"%dur, counts, "recv errors",errs)
