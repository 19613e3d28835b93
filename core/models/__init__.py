"""The domain's models, one module per aggregate, re-exported here."""

from core.models.audit import AuditLogEntry as AuditLogEntry
from core.models.events import Event as Event
from core.models.events import TicketType as TicketType
from core.models.notify import OutboundMessage as OutboundMessage
from core.models.orders import Order as Order
from core.models.orders import OrderLine as OrderLine
from core.models.orders import Payment as Payment
from core.models.orders import ProviderEvent as ProviderEvent
from core.models.orders import Refund as Refund
from core.models.scans import CheckInTally as CheckInTally
from core.models.scans import ScanLog as ScanLog
from core.models.staff import Role as Role
from core.models.staff import ScannerDevice as ScannerDevice
from core.models.staff import StaffInvite as StaffInvite
from core.models.staff import StaffProfile as StaffProfile
from core.models.tickets import Ticket as Ticket
from core.models.waitlist import WaitlistEntry as WaitlistEntry
