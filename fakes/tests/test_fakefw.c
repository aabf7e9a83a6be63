/* The fake firmware on its own: TPL and notify dispatch, timers on the
 * virtual clock, misuse detection, the protocol database, and the network
 * model's pace (one frame per Poll, one per tick). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "fakefw/fakefw.h"

static int order[16], norder;
static VOID EFIAPI rec(EFI_EVENT e, VOID *ctx) {
  (void)e;
  order[norder++] = (int)(intptr_t)ctx;
}

static void tpl_and_notify_dispatch(void **st) {
  (void)st;
  struct fakefw *fw = fakefw_create(NULL);
  EFI_BOOT_SERVICES *bs = fakefw_st(fw)->BootServices;
  EFI_EVENT cb1, cb2, nt;
  bs->CreateEvent(EVT_NOTIFY_SIGNAL, TPL_CALLBACK, rec, (void *)1, &cb1);
  bs->CreateEvent(EVT_NOTIFY_SIGNAL, TPL_CALLBACK, rec, (void *)2, &cb2);
  bs->CreateEvent(EVT_NOTIFY_SIGNAL, TPL_NOTIFY, rec, (void *)3, &nt);
  norder = 0;
  bs->SignalEvent(cb1); /* at TPL_APPLICATION: runs at once */
  assert_int_equal(norder, 1);
  EFI_TPL old = bs->RaiseTPL(TPL_CALLBACK);
  assert_int_equal(old, TPL_APPLICATION);
  bs->SignalEvent(cb1);
  bs->SignalEvent(cb2);
  bs->SignalEvent(nt); /* higher than current: runs now */
  assert_int_equal(norder, 2);
  assert_int_equal(order[1], 3);
  bs->SignalEvent(cb1); /* already pending: not queued twice */
  bs->RestoreTPL(old); /* pending CALLBACK notifies run, in signal order */
  assert_int_equal(norder, 4);
  assert_int_equal(order[2], 1);
  assert_int_equal(order[3], 2);
  assert_int_equal(bs->CheckEvent(cb1), EFI_INVALID_PARAMETER); /* notify-signal event */
  EFI_EVENT bad;
  assert_int_equal(bs->CreateEvent(EVT_NOTIFY_SIGNAL, TPL_CALLBACK, NULL, NULL, &bad), EFI_INVALID_PARAMETER);
  assert_int_equal(bs->CreateEvent(EVT_NOTIFY_SIGNAL, TPL_APPLICATION, rec, NULL, &bad), EFI_INVALID_PARAMETER);
  bs->CloseEvent(cb1);
  bs->CloseEvent(cb2);
  bs->CloseEvent(nt);
  assert_true(fakefw_leak_free(fw, NULL, 0));
  fakefw_destroy(fw);
}

static void timers_and_wait(void **st) {
  (void)st;
  struct fakefw *fw = fakefw_create(NULL);
  EFI_BOOT_SERVICES *bs = fakefw_st(fw)->BootServices;
  EFI_EVENT t1, per;
  bs->CreateEvent(EVT_TIMER, 0, NULL, NULL, &t1);
  bs->CreateEvent(EVT_TIMER | EVT_NOTIFY_SIGNAL, TPL_CALLBACK, rec, (void *)7, &per);
  bs->SetTimer(t1, TimerRelative, 2500000); /* 250 ms */
  bs->SetTimer(per, TimerPeriodic, 1000000); /* 100 ms */
  norder = 0;
  uint64_t t0 = fakefw_now_ns(fw);
  UINTN idx = 9;
  assert_int_equal(bs->WaitForEvent(1, &t1, &idx), EFI_SUCCESS);
  assert_int_equal(idx, 0);
  assert_int_equal(fakefw_now_ns(fw) - t0, 250000000ull);
  assert_int_equal(norder, 2); /* the periodic one fired at 100 and 200 ms */
  assert_int_equal(bs->CheckEvent(t1), EFI_NOT_READY); /* WaitForEvent consumed it */
  assert_true(fakefw_idle_ns(fw) >= 250000000ull);
  bs->SetTimer(per, TimerCancel, 0);
  fakefw_advance(fw, 1000000000);
  assert_int_equal(norder, 2);
  /* Stall is busy time, and fires timers on the way */
  bs->SetTimer(t1, TimerRelative, 10000);
  bs->Stall(2000);
  assert_int_equal(bs->CheckEvent(t1), EFI_SUCCESS);
  EFI_EVENT evs[1] = {per};
  assert_int_equal(bs->WaitForEvent(1, evs, &idx), EFI_INVALID_PARAMETER);
  bs->CloseEvent(t1);
  bs->CloseEvent(per);
  assert_true(fakefw_leak_free(fw, NULL, 0));
  fakefw_destroy(fw);
}

static void misuse_is_reported(void **st) {
  (void)st;
  struct fakefw *fw = fakefw_create(NULL);
  EFI_BOOT_SERVICES *bs = fakefw_st(fw)->BootServices;
  EFI_EVENT e;
  bs->CreateEvent(0, 0, NULL, NULL, &e);
  bs->CloseEvent(e);
  assert_int_equal(bs->SignalEvent(e), EFI_INVALID_PARAMETER);
  EFI_TPL old = bs->RaiseTPL(TPL_CALLBACK);
  EFI_EVENT w;
  bs->CreateEvent(0, 0, NULL, NULL, &w);
  UINTN idx;
  assert_int_equal(bs->WaitForEvent(1, &w, &idx), EFI_UNSUPPORTED); /* above APPLICATION */
  bs->RestoreTPL(old);
  bs->CloseEvent(w);
  char why[256];
  assert_false(fakefw_leak_free(fw, why, sizeof(why)));
  assert_non_null(strstr(why, "violations=2"));
  fakefw_destroy(fw);
}

static void protocol_database(void **st) {
  (void)st;
  struct fakefw_opts o;
  memset(&o, 0, sizeof(o));
  o.nics = 2;
  o.no_dns4 = true;
  struct fakefw *fw = fakefw_create(&o);
  EFI_BOOT_SERVICES *bs = fakefw_st(fw)->BootServices;
  UINTN n = 0;
  EFI_HANDLE *hs = NULL;
  assert_int_equal(bs->LocateHandleBuffer(ByProtocol, &efi_tcp4_sb_guid, NULL, &n, &hs), EFI_SUCCESS);
  assert_int_equal(n, 2);
  assert_ptr_equal(hs[0], fakefw_nic_handle(fw, 0)); /* creation order */
  bs->FreePool(hs);
  assert_int_equal(bs->LocateHandleBuffer(ByProtocol, &efi_dns4_sb_guid, NULL, &n, &hs), EFI_NOT_FOUND);
  void *p;
  assert_int_equal(bs->HandleProtocol(fakefw_nic_handle(fw, 1), &efi_ip4cfg2_guid, &p), EFI_SUCCESS);
  EFI_SERVICE_BINDING_PROTOCOL *sb;
  bs->HandleProtocol(fakefw_nic_handle(fw, 0), &efi_tcp4_sb_guid, (void **)&sb);
  EFI_HANDLE child = NULL;
  assert_int_equal(sb->CreateChild(sb, &child), EFI_SUCCESS);
  assert_int_equal(bs->OpenProtocol(child, &efi_tcp4_guid, &p, fakefw_image(fw), NULL, EFI_OPEN_PROTOCOL_GET_PROTOCOL), EFI_SUCCESS);
  struct fakefw_leaks l;
  fakefw_leaks(fw, &l);
  assert_int_equal(l.children, 1);
  assert_int_equal(sb->DestroyChild(sb, child), EFI_SUCCESS);
  assert_int_equal(sb->DestroyChild(sb, child), EFI_INVALID_PARAMETER); /* and a violation */
  assert_int_equal(bs->HandleProtocol(child, &efi_tcp4_guid, &p), EFI_INVALID_PARAMETER);
  assert_false(fakefw_leak_free(fw, NULL, 0));
  fakefw_destroy(fw);
}

/* The network's pace: with no Poll a frame per 10 ms tick; each Poll one. */
static void one_frame_per_poll_or_tick(void **st) {
  (void)st;
  struct fakefw *fw = fakefw_create(NULL);
  struct fnet *n = fakefw_net(fw);
  struct fakefw_counters c0, c1;
  for (int i = 0; i < 10; i++) fnet_udp_send(n, FNET_IP(10, 0, 2, 2), 1, FNET_IP(10, 0, 2, 15), 9, "x", 1);
  fakefw_counters(fw, &c0);
  fakefw_advance(fw, 50000000); /* 5 ticks */
  fakefw_counters(fw, &c1);
  assert_int_equal(c1.frames_in - c0.frames_in, 5);
  EFI_BOOT_SERVICES *bs = fakefw_st(fw)->BootServices;
  EFI_SERVICE_BINDING_PROTOCOL *sb;
  bs->HandleProtocol(fakefw_nic_handle(fw, 0), &efi_tcp4_sb_guid, (void **)&sb);
  EFI_HANDLE child = NULL;
  sb->CreateChild(sb, &child);
  EFI_TCP4_PROTOCOL *t;
  bs->HandleProtocol(child, &efi_tcp4_guid, (void **)&t);
  for (int i = 0; i < 3; i++) assert_int_equal(t->Poll(t), EFI_SUCCESS);
  fakefw_counters(fw, &c0);
  assert_int_equal(c0.frames_in - c1.frames_in, 3);
  assert_int_equal(c0.polls, 3);
  assert_int_equal(fakefw_busy_ns(fw), 15000); /* 5 us each */
  sb->DestroyChild(sb, child);
  assert_true(fakefw_leak_free(fw, NULL, 0));
  fakefw_destroy(fw);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(tpl_and_notify_dispatch),
      cmocka_unit_test(timers_and_wait),
      cmocka_unit_test(misuse_is_reported),
      cmocka_unit_test(protocol_database),
      cmocka_unit_test(one_frame_per_poll_or_tick),
  };
  return cmocka_run_group_tests_name("fakefw", tests, NULL, NULL);
}
